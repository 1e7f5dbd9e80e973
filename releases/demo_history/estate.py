"""What the history needs before it starts: the users it names, the release categories, and
the release units with the CIs their releases go to (a small estate for an empty CMDB)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from simple_history.utils import bulk_create_with_history

from cmdb.choices import (
    HARDWARE_KINDS,
    SERVICE_KINDS,
    CIKind,
    CIStatus,
    Environment,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Relationship
from releasemgmt.accounts import demo as accounts_demo
from releases.demo_history.constants import CATEGORIES, HISTORY_SOURCE, PRODUCTS
from releases.models import ChangeRequest, ReleaseCategory


@dataclass(frozen=True)
class HistoryUnit:
    """A release unit and the CIs its releases go to."""

    pk: int
    identifier: str
    name: str
    targets: tuple[tuple[int, str], ...]  # (ci id, identifier)
    endpoints: bool = False  # workstations: waves, login conditions, antivirus updates
    weight: float = 1.0
    products: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryUsers:
    release_manager: object
    change_manager: object
    config_manager: object
    ops: tuple  # at least two: an override needs a second person


def history_present() -> bool:
    """The demo's history is there when its production change requests are."""
    return ChangeRequest.objects.filter(source_system=HISTORY_SOURCE).exists()


def history_users() -> HistoryUsers:
    """The demo users the history names (the demo's accounts, with ``ops-2``: an override needs
    two different ops people), created when missing."""
    User = get_user_model()
    wanted = ("release-manager", "change-manager", "config-manager", "ops", "ops-2")
    if User.objects.filter(username__in=wanted).count() < len(wanted):
        accounts_demo.seed(_Silent())
    users = {u.username: u for u in User.objects.filter(username__in=wanted)}
    return HistoryUsers(
        release_manager=users["release-manager"],
        change_manager=users["change-manager"],
        config_manager=users["config-manager"],
        ops=(users["ops"], users["ops-2"]),
    )


class _Silent:
    def write(self, *args, **kwargs):
        pass


def history_categories() -> dict[str, ReleaseCategory]:
    """The demo's release categories, created when missing."""
    result = {}
    for name, description, communication, training, rehearsal, four_eyes in CATEGORIES:
        result[name], _ = ReleaseCategory.objects.get_or_create(
            name=name,
            defaults={
                "description": description,
                "waives_communication": communication,
                "waives_training": training,
                "waives_backout_rehearsal": rehearsal,
                "four_eyes": four_eyes,
            },
        )
    return result


def history_units(identifiers=None) -> list[HistoryUnit]:
    """Release units with the CIs their releases go to: the hardware each runs on, or — for a
    unit that runs on nothing in the CMDB (the digital workplace) — the active workstations and
    laptops of its environment. Units with no such CI are left out. Three queries."""
    units = ConfigurationItem.objects.filter(kind__in=SERVICE_KINDS, status=CIStatus.ACTIVE)
    if identifiers is not None:
        units = units.filter(identifier__in=list(identifiers))
    units = list(units.order_by("identifier"))
    runs_on: dict[int, list] = {}
    for source_id, ci_id, identifier in (
        Relationship.objects.filter(
            source__in=units,
            kind=RelationshipKind.RUNS_ON,
            target__status=CIStatus.ACTIVE,
            target__kind__in=HARDWARE_KINDS,
        )
        .order_by("target__identifier")
        .values_list("source_id", "target_id", "target__identifier")
    ):
        runs_on.setdefault(source_id, []).append((ci_id, identifier))
    endpoints: dict[str, list] = {}
    for ci_id, identifier, environment in (
        ConfigurationItem.objects.filter(
            kind__in=[CIKind.WORKSTATION, CIKind.LAPTOP], status=CIStatus.ACTIVE
        )
        .order_by("identifier")
        .values_list("pk", "identifier", "environment")
    ):
        endpoints.setdefault(environment, []).append((ci_id, identifier))
    result = []
    for unit in units:
        targets = runs_on.get(unit.pk)
        on_endpoints = not targets
        targets = targets or endpoints.get(unit.environment, [])
        if targets:
            result.append(
                HistoryUnit(
                    pk=unit.pk,
                    identifier=unit.identifier,
                    name=unit.name,
                    targets=tuple(targets),
                    endpoints=on_endpoints,
                    weight=3.0 if on_endpoints else 1.0,
                    products=PRODUCTS.get(unit.identifier, ()),
                )
            )
    return result


def history_estate(*, endpoints: int = 1000) -> list[HistoryUnit]:
    """A small estate for an empty CMDB: four services and ``endpoints`` workstations (the
    benchmark's). Existing CIs are kept; nothing is created when units exist already."""
    units = history_units()
    if units:
        return units
    services = [
        ("erp", "ERP"),
        ("crm", "Customer relationship management"),
        ("intranet", "Intranet"),
        ("endpoint-fleet", "Endpoint fleet"),
    ]
    existing = set(
        ConfigurationItem.objects.filter(identifier__in=[s[0] for s in services]).values_list(
            "identifier", flat=True
        )
    )
    new = [
        ConfigurationItem(
            identifier=identifier,
            name=name,
            kind=CIKind.SERVICE,
            environment=Environment.PRODUCTION,
            owner="Application services",
        )
        for identifier, name in services
        if identifier not in existing
    ]
    prefix = "hist-ws-"
    have = ConfigurationItem.objects.filter(identifier__startswith=prefix).count()
    new += [
        ConfigurationItem(
            identifier=f"{prefix}{n:06d}",
            name=f"Workstation {n:06d}",
            kind=CIKind.WORKSTATION,
            environment=Environment.PRODUCTION,
            owner="Workplace services",
            attributes={"os": "Windows 11 23H2"},
        )
        for n in range(have + 1, endpoints + 1)
    ]
    bulk_create_with_history(
        new, ConfigurationItem, batch_size=1000, default_change_reason="history"
    )
    return history_units()
