"""A believable past: months of releases that ended — completed, backed out or cancelled — with
their timelines, targets, change requests, back-out decisions and overrides, and the CMDB and
licence errors found meanwhile. Every row holds what the services would have written had the
release really been walked through them (the counters agree with the targets, ``ended_at`` with
the transition that ended it, each timeline is a legal path through the state machine), so the
KPI page has a year to show.

It writes in bulk and never through the services: rows are generated lazily, a chunk of releases
at a time, and inserted with ``bulk_create`` in batches — on PostgreSQL with a binary COPY per
table and chunk — so a demo year takes a moment and a benchmark's 100,000 releases (a million
targets) a few minutes. Deterministic
for a seed and a database: ``random.Random(seed)`` decides everything; only the release numbers
and the times (relative to now) depend on what is already there."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import JSONField
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from cmdb.choices import (
    ERROR_KIND_CATEGORY,
    HARDWARE_KINDS,
    SERVICE_KINDS,
    CIKind,
    CIStatus,
    Environment,
    ErrorKind,
    ErrorSource,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, Licence, Relationship
from releasemgmt.accounts import demo as accounts_demo
from releasemgmt.accounts import roles
from releasemgmt.core.services import SYSTEM_ACTOR
from releases.choices import (
    DistributionMethod,
    DistributionState,
    FailureConditionKind,
    InstallationMode,
    InstallationState,
    OverrideStatus,
    ReleaseLevel,
    ReleaseState,
    Trigger,
)
from releases.models import (
    BackoutOverride,
    BackoutStep,
    ChangeRequest,
    FailureCondition,
    Release,
    ReleaseCategory,
    ReleaseNumberSequence,
    ReleaseTarget,
    ReleaseTransition,
)

S = ReleaseState
IS = InstallationState
DS = DistributionState
HOUR = 3600.0
MINUTE = 60.0
DAY = 24 * HOUR
HOUR_DELTA = timedelta(hours=1)

# Change requests of the past come from the production ServiceNow (and some from Jira); the demo
# recognises its history by them.
HISTORY_SOURCE = "servicenow-prod"
JIRA_SOURCE = "jira-sm"
CHUNK = 2000  # releases simulated and written per round
BATCH = 5000  # rows per INSERT

STANDARD, ANTIVIRUS, EMERGENCY = "Standard change", "Antivirus definition update", "Emergency fix"
AUTO_REASON = "Nobody decided before the deadline: the back-out starts automatically."
RESOLVED_BY_CHECK = "No longer found by the integrity check."

CANCEL_REASONS = (
    "Superseded by the next release of the unit.",
    "The change was rejected by the CAB.",
    "The vendor withdrew the update.",
    "Merged into the quarterly package.",
    "The business asked to postpone it until after the closing period.",
    "Duplicate of a release already planned.",
)
FAIL_TEST_REASONS = (
    "Regression in the nightly suite: two invoices rounded differently.",
    "Smoke tests failed on the test environment.",
    "The back-out rehearsal did not restore the baseline cleanly.",
    "Performance test above the agreed response time.",
    "Integration check with identity failed (token audience).",
)
REPLAN_REASONS = (
    "Verification found retired targets: target list corrected.",
    "Licence seats short: roll-out narrowed to the first ring.",
    "The expected from-version differs on some targets: plan adjusted.",
)
OVERRIDE_REASONS = (
    "The failures are all on machines with a full disk; the fix is rolled out separately and the "
    "installed majority must not be rolled back during the closing period.",
    "The failing targets are in the lab ring and will be reimaged; backing out the production "
    "ring would cost more than it saves.",
    "The health check failed on a known false positive (monitoring agent restart); the service "
    "is up, verified by hand.",
    "Only the retry-able installer error 1618 failed; continuing and retrying is safer than "
    "restoring 200 seats.",
    "Vendor support confirmed the failures are cosmetic; the users need the fix today.",
)
WITHDRAWN_REASONS = (
    "Continue: the failures look like a transient network problem.",
    "Continue: most targets are fine, we retry the rest tonight.",
)
REVIEW_REASONS = (
    "",
    "",
    "Post-implementation review: no incidents, users informed.",
    "Post-implementation review: installed on every target; one retry.",
)
RESOLUTIONS = {
    ErrorKind.VERSION_MISMATCH: (
        "The CMDB record was updated to the version found on the machine.",
        "Reinstalled the recorded version from the DSL.",
    ),
    ErrorKind.RETIRED_TARGET: ("Removed the retired CI from the plan and the service.",),
    ErrorKind.MISSING_TARGET: ("Registered the machine in the CMDB after checking its asset tag.",),
    ErrorKind.DUPLICATE_IDENTITY: (
        "Merged the duplicate records; the serial number was mistyped.",
    ),
    ErrorKind.BROKEN_RELATIONSHIP: ("Pointed the relationship at the replacement server.",),
    ErrorKind.UNAUTHORISED_SOFTWARE: (
        "Uninstalled the unauthorised version; ticket raised with the user.",
    ),
    ErrorKind.SEATS_EXCEEDED: ("Bought 25 more seats; contract amended.",),
    ErrorKind.LICENCE_EXPIRED: ("Renewal recorded in the CMDB.",),
    ErrorKind.LICENCE_MISSING: ("Assigned a seat of the enterprise agreement.",),
    ErrorKind.HARDWARE_NOT_RESERVED: ("Reserved the units in the DHS.",),
}
LICENCE_NAMES = (
    "Microsoft 365 Apps — 2026",
    "Adobe Acrobat Pro — 2024",
    "Endpoint Protection Suite — enterprise",
    "Oracle Database EE — processor",
)
# Products a unit's releases carry, by the unit's identifier (titles only; others use its name).
PRODUCTS = {
    "billing": ("Billing Service", "Oracle Database"),
    "customer-portal": ("Customer Portal", "Nginx"),
    "identity": ("Identity Provider",),
    "data-warehouse": ("Warehouse ETL", "Oracle Database"),
    "monitoring": ("Prometheus", "Grafana"),
    "workplace": ("Microsoft 365 Apps", "Adobe Acrobat Pro", "Endpoint Protection"),
    "erp": ("ERP Suite", "PostgreSQL"),
    "crm": ("CRM Server",),
    "intranet": ("Intranet CMS", "Nginx"),
    "endpoint-fleet": ("Microsoft 365 Apps", "Endpoint Protection", "7-Zip"),
}


BACKOUT_STEPS = (
    "Stop the service (or the installer) on each target",
    "Reinstall the previous version from the DSL",
    "Run the smoke tests and tell the service desk",
)
TARGET_COLUMNS = (
    "release_id",
    "ci_id",
    "distribution_state",
    "installation_state",
    "wave",
    "due_at",
    "dispatched_at",
    "attempts",
    "distributed_at",
    "installed_at",
    "backed_out_at",
    "last_report_at",
    "detail",
)


def _columns(model, rows: list[dict]) -> tuple[tuple[str, ...], list[tuple]]:
    """Dicts of field values as (columns, tuples) for ``_insert``: every column any row names,
    a field's default where a row leaves it out."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    names = tuple(dict.fromkeys(name for row in rows for name in row))
    defaults = {name: fields[name].get_default() for name in names}
    return names, [tuple(row.get(name, defaults[name]) for name in names) for row in rows]


def _pg_type(field) -> str:
    """The PostgreSQL type a binary COPY sends a field's values as."""
    db_type = field.db_type(connection).lower()
    for prefix, name in (
        ("bigint", "int8"),
        ("smallint", "int2"),
        ("integer", "int4"),
        ("varchar", "text"),
        ("text", "text"),
        ("timestamp with time zone", "timestamptz"),
        ("date", "date"),
        ("jsonb", "jsonb"),
        ("numeric", "numeric"),
        ("boolean", "bool"),
    ):
        if db_type.startswith(prefix):
            return name
    raise ValueError(f"No COPY type for {field} ({db_type}).")


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


@dataclass
class _Release:
    """One simulated release. Times are offsets in seconds from the moment it was requested
    until ``base`` (that moment) is known; ``_finish`` turns them into datetimes."""

    fields: dict  # Release field values by attname
    transitions: list = field(
        default_factory=list
    )  # (name, source, target, t, by, reason, details)
    # [ci id, distribution state, installation state, wave, due, dispatched, attempts,
    #  distributed, installed, backed out, last report, detail]
    targets: list = field(default_factory=list)
    target_names: dict = field(default_factory=dict)  # ci id -> identifier
    conditions: list = field(default_factory=list)  # (kind, threshold, parameters)
    overrides: list = field(default_factory=list)  # [status, reason, by, at, confirmed by, at]
    errors: list = field(default_factory=list)  # Discrepancy fields, "{number}" to fill in
    change_count: int = 0
    change_type: str = "normal"
    threshold: int = 20  # the failure rate condition's, in per cent
    signal: str = ""  # the health signal declared
    late_allowed: bool = False  # no window condition: an installation may finish after it
    product: str = ""
    endpoints: bool = False
    stop: str | None = None  # the state a cancelled release was cancelled in
    t: float = 0.0  # where the walk to deployment ended
    pace: float = 1.0  # how fast this part of the year moves releases along
    i: float = 0.0  # the installation window's start
    window_length: float = 0.0
    window_end: float = 0.0
    windows: tuple = ()  # a cancelled release's planned windows, as datetimes
    windows_offsets: tuple = ()
    limit: float = math.inf  # now: nothing may happen later
    installed_at: float | None = None
    required: float | None = None  # back-out required at, its deadline, condition, figures
    deadline: float | None = None
    condition: str = ""
    figures: dict = field(default_factory=dict)
    decided: float | None = None
    automatic: bool = False
    ended: float | None = None
    outcome: str = ""
    base: datetime | None = None
    created_at: datetime | None = None
    year_created: int = 0
    number: str = ""
    pk: int | None = None
    override_rows: list = field(default_factory=list)


def history_present() -> bool:
    """The demo's history is there when its production change requests are."""
    return ChangeRequest.objects.filter(source_system=HISTORY_SOURCE).exists()


# Prerequisites: users, categories, units


def history_users() -> HistoryUsers:
    """The demo users the history names, created when missing (the demo's accounts and a second
    ops person, ``ops-2``, with the demo password): an override needs two different ops people."""
    User = get_user_model()
    wanted = ("release-manager", "change-manager", "config-manager", "ops")
    if User.objects.filter(username__in=wanted).count() < len(wanted):
        accounts_demo.seed(_Silent())
    second, created = User.objects.get_or_create(
        username="ops-2",
        defaults={"first_name": "Otto", "last_name": "Ops", "email": "ops-2@example.com"},
    )
    if created:
        roles.sync_role_groups()
        second.set_password(settings.DEMO_PASSWORD)
        second.save()
        second.groups.add(Group.objects.get(name=roles.OPS))
    users = {u.username: u for u in User.objects.filter(username__in=[*wanted, "ops-2"])}
    return HistoryUsers(
        release_manager=users["release-manager"],
        change_manager=users["change-manager"],
        config_manager=users["config-manager"],
        ops=(users["ops"], users["ops-2"]),
    )


class _Silent:
    def write(self, *args, **kwargs):
        pass


# The demo's release categories (name, description, waives communication, training, rehearsal).
CATEGORIES = [
    ("Standard change", "Pre-approved, routine releases.", False, False, False),
    (
        "Antivirus definition update",
        "Signature updates: no communication or training needed.",
        True,
        True,
        False,
    ),
    ("Emergency fix", "Urgent fixes under the emergency change process.", False, True, False),
]


def history_categories() -> dict[str, ReleaseCategory]:
    """The demo's release categories, created when missing."""
    result = {}
    for name, description, communication, training, rehearsal in CATEGORIES:
        result[name], _ = ReleaseCategory.objects.get_or_create(
            name=name,
            defaults={
                "description": description,
                "waives_communication": communication,
                "waives_training": training,
                "waives_backout_rehearsal": rehearsal,
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


# The generator


def history_generate(
    *,
    releases: int,
    targets_per_release: tuple[int, int],
    errors: int,
    months: int,
    seed: int,
    users: HistoryUsers,
    units: list[HistoryUnit],
    categories: dict[str, ReleaseCategory] | None = None,
    licences: list[tuple[int, str]] | None = None,
    automatic_backouts: int = 1,
    now: datetime | None = None,
    progress=None,
) -> dict:
    """Write ``releases`` ended releases over the last ``months`` months (more in later months,
    back-outs falling from about 6 % to 2.5 % of the deployed ones, ~5 % cancelled), each with
    its timeline, ``targets_per_release`` targets (at most as many as its unit has), change
    requests, failure conditions and back-out plan; a handful of back-out overrides (a couple
    withdrawn); exactly ``automatic_backouts`` back-outs that started by themselves; and
    ``errors`` CMDB and licence errors found by every source, most resolved. The release number
    sequence is moved past every number used. Runs in the caller's transaction (one is wanted:
    the sequence rows are locked). Returns the counts written."""
    if not units:
        raise ValueError("No release unit with targets: create a CMDB first (history_estate).")
    generator = _Generator(
        releases=releases,
        targets_per_release=targets_per_release,
        errors=errors,
        months=months,
        rng=random.Random(seed),  # noqa: S311 — made-up demo data, not secrets
        users=users,
        units=units,
        categories=categories or history_categories(),
        licences=licences
        if licences is not None
        else list(Licence.objects.order_by("pk").values_list("pk", "name")),
        automatic_backouts=automatic_backouts,
        now=now or timezone.now(),
        progress=progress,
    )
    return generator.run()


class _Generator:
    def __init__(
        self,
        *,
        releases,
        targets_per_release,
        errors,
        months,
        rng,
        users,
        units,
        categories,
        licences,
        automatic_backouts,
        now,
        progress,
    ):
        self.n = releases
        self.lo, self.hi = targets_per_release
        self.error_total = errors
        self.rng = rng
        self.users = users
        self.units = units
        self.unit_weights = [u.weight for u in units]
        self.endpoint_units = [u for u in units if u.endpoints]
        self.categories = categories
        self.licences = licences or [(None, name) for name in LICENCE_NAMES]
        self.automatic = automatic_backouts
        self.now = now.replace(microsecond=0)
        self.progress = progress or (lambda text: None)
        # Installations start at least three days ago, so that they, their reviews and their
        # closures are all past.
        self.end = (self.now - timedelta(days=3)).replace(minute=0, second=0)
        first = self.now.date().replace(day=1)
        for _ in range(months):
            first = (first - timedelta(days=1)).replace(day=1)
        self.start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        self.versions: dict[tuple, list[int]] = {}
        self.counts = {
            "releases": 0,
            "completed": 0,
            "backed_out": 0,
            "cancelled": 0,
            "automatic_backouts": 0,
            "overrides_confirmed": 0,
            "overrides_withdrawn": 0,
            "transitions": 0,
            "targets": 0,
            "change_requests": 0,
            "errors": 0,
        }
        self.is_postgres = connection.vendor == "postgresql"

    # Planning the whole span: when each release happened and how it ended.

    def _anchors(self) -> list[float]:
        """Installation starts (cancellations for cancelled ones) as fractions of the span, more
        in later months: density 1 + x (the last month has about twice the first's)."""
        trend = 1.0
        anchors = []
        for _ in range(self.n):
            u = self.rng.random()
            anchors.append((-1 + math.sqrt(1 + 2 * trend * u * (1 + trend / 2))) / trend)
        anchors.sort()
        return anchors

    def _outcomes(self, anchors: list[float]) -> list[str]:
        """How each release ends, with exact counts: ~5 % cancelled, the back-outs (their
        cause, the automatic ones, one after a withdrawn override request) and the completed
        releases that went on after a confirmed override."""
        rng, n = self.rng, self.n
        kinds = ["completed"] * n
        cancelled = set(rng.sample(range(n), round(n * 0.05)))
        for i in cancelled:
            kinds[i] = "cancelled"
        deployed = [i for i in range(n) if i not in cancelled]
        # Back-outs fall from 6 % to 2.5 % over the span: exact per twelfth, remainders carried.
        backouts, carry = [], 0.0
        for part in range(12):
            bucket = deployed[part * len(deployed) // 12 : (part + 1) * len(deployed) // 12]
            expected = sum(0.06 - 0.035 * anchors[i] for i in bucket) + carry
            count = min(len(bucket), max(0, round(expected)))
            carry = expected - count
            backouts += rng.sample(bucket, count)
        backouts.sort()
        completed = sorted(set(deployed) - set(backouts))
        automatic = set(rng.sample(backouts, min(self.automatic, len(backouts))))
        manual = [i for i in backouts if i not in automatic]
        withdrawn = max(1, round(n * 0.007)) if n >= 20 else 0
        withdrawn_backout = set(
            rng.sample(manual, min(withdrawn // 2 + withdrawn % 2, len(manual)))
        )
        # Most back-outs follow a crossed failure rate; some a window that ended with targets not
        # installed, some a failed health signal after the installation.
        causes = [
            "backout_rate",
            "backout_window",
            "backout_rate",
            "backout_health",
            "backout_rate",
        ]
        rng.shuffle(manual)
        for k, i in enumerate(manual):
            kinds[i] = "backout_withdrawn" if i in withdrawn_backout else causes[k % len(causes)]
        for i in automatic:
            kinds[i] = "backout_auto"
        overridden = rng.sample(
            completed, min(max(1, round(n * 0.015)) if n >= 20 else 0, len(completed))
        )
        for k, i in enumerate(overridden):
            kinds[i] = "override_withdrawn" if k < withdrawn // 2 else "override"
        return kinds

    def run(self) -> dict:
        rng = self.rng
        anchors = self._anchors()
        kinds = self._outcomes(anchors)
        # About a quarter of the errors are found by verification, 1.6 per failed verification.
        verification_budget = round(self.error_total * 0.25)
        failing = set(rng.sample(range(self.n), min(self.n, round(verification_budget / 1.6))))
        self.verification_budget = verification_budget
        span = (self.end - self.start).total_seconds()
        self._lock_sequences()
        self._first_error = (
            Discrepancy.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        )
        self._error_index = 0
        self._change_index = ChangeRequest.objects.filter(
            source_system__in=[HISTORY_SOURCE, JIRA_SOURCE]
        ).count()
        for first in range(0, self.n, CHUNK):
            chunk = []
            for i in range(first, min(first + CHUNK, self.n)):
                anchor = self.start + timedelta(seconds=anchors[i] * span)
                if kinds[i] == "cancelled":
                    anchor = anchor.replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59))
                else:
                    anchor = anchor.replace(
                        hour=rng.choice((6, 18, 19, 20, 21, 22)), minute=0, second=0, microsecond=0
                    )
                anchor = min(anchor, self.end)
                chunk.append(self._simulate(kinds[i], anchor, anchors[i], i in failing))
            self._write(chunk)
            self.progress(f"{min(first + CHUNK, self.n)} of {self.n} releases")
        self._save_sequences()
        self._write_other_errors()
        return self.counts

    # Release numbers: REL-<year created>-NNNN from each year's sequence, kept ahead.

    def _lock_sequences(self) -> None:
        """Hold the sequences of the years the history spans (a release created meanwhile waits)
        and take numbers after their last."""
        years = list(range(self.start.year - 1, self.now.year + 1))
        self.sequences = dict(
            ReleaseNumberSequence.objects.select_for_update()
            .filter(year__in=years)
            .values_list("year", "last")
        )

    def _save_sequences(self) -> None:
        for year, last in self.sequences.items():
            sequence, _ = ReleaseNumberSequence.objects.get_or_create(year=year)
            if sequence.last < last:
                sequence.last = last
                sequence.save(update_fields=["last"])

    # One release

    def _simulate(self, kind: str, anchor: datetime, x: float, failing: bool) -> _Release:
        rng = self.rng
        category_name = rng.choices([STANDARD, ANTIVIRUS, EMERGENCY], [72, 15, 13])[0]
        if category_name == ANTIVIRUS and self.endpoint_units:
            unit = rng.choice(self.endpoint_units)
        else:
            unit = rng.choices(self.units, self.unit_weights)[0]
        if category_name in (ANTIVIRUS, EMERGENCY):
            level = ReleaseLevel.DELTA
        else:
            level = rng.choices(
                [ReleaseLevel.DELTA, ReleaseLevel.PACKAGE, ReleaseLevel.FULL], [50, 28, 22]
            )[0]
        available = len(unit.targets)
        low = min(self.lo, available)
        count = rng.randint(low, max(low, min(self.hi, available)))
        targets = rng.sample(unit.targets, count)
        targets.sort(key=lambda t: t[1])
        release = _Release(fields={})
        self._plan(release, unit, level, category_name, targets, kind, x)
        self._walk_to_deployment(release, level, kind, x, failing, targets)
        if kind == "cancelled":
            self._cancel(release, anchor)
        else:
            self._deploy(release, unit, kind, anchor)
        self._finish(release)
        return release

    def _plan(self, release, unit, level, category_name, targets, kind, x) -> None:
        rng = self.rng
        title, product = self._title(unit, level, category_name)
        endpoints = unit.endpoints
        mode = InstallationMode.SCHEDULED
        if kind == "backout_window":
            mode = InstallationMode.CONDITION
        elif not kind.startswith("override"):
            mode = rng.choices(
                [InstallationMode.SCHEDULED, InstallationMode.CONDITION, InstallationMode.MANUAL],
                [60, 30, 10] if endpoints else [80, 0, 20],
            )[0]
        threshold = rng.choice((10, 20, 20, 25))
        conditions = [(FailureConditionKind.FAILURE_RATE_ABOVE, Decimal(threshold), {})]
        late_allowed = kind == "completed" and rng.random() < 0.25
        if kind == "backout_window" or not late_allowed:
            conditions.append((FailureConditionKind.WINDOW_ENDED_WITH_PENDING, None, {}))
        signal = f"{unit.identifier}-synthetic-check"
        if kind == "backout_health" or rng.random() < 0.2:
            conditions.append((FailureConditionKind.HEALTH_SIGNAL_FAILED, None, {"signal": signal}))
        release.conditions = conditions
        release.threshold = threshold
        release.signal = signal
        release.late_allowed = late_allowed
        release.product = product
        release.endpoints = endpoints
        wave_size = 0
        if endpoints and mode == InstallationMode.SCHEDULED and len(targets) > 10:
            wave_size = rng.choice((10, 20, 25, 50))
        release.fields.update(
            title=title,
            level=level,
            category_id=self.categories[category_name].pk
            if category_name in self.categories
            else None,
            release_unit_id=unit.pk,
            owner_id=self.users.release_manager.pk,
            created_by_id=self.users.release_manager.pk,
            backout_decision_minutes=rng.choice((30, 30, 30, 15, 60)),
            distribution_method=DistributionMethod.AGENT_PULL
            if endpoints
            else rng.choice((DistributionMethod.DEPLOYMENT_TOOL, DistributionMethod.AGENT_PULL)),
            installation_mode=mode,
            wave_size=wave_size,
            wave_interval_minutes=rng.choice((15, 30)) if wave_size else 15,
            login_threshold=0,
        )
        if release.fields["distribution_method"] == DistributionMethod.DEPLOYMENT_TOOL:
            release.fields["deployment_tool"] = "Ansible Automation Platform"
        release.targets = [
            # ci, distribution, installation, wave, due, dispatched, attempts, distributed,
            # installed, backed out, last report, detail
            [ci_id, DS.PENDING, IS.PENDING, 1, None, None, 0, None, None, None, None, ""]
            for ci_id, _identifier in targets
        ]
        release.target_names = {ci_id: identifier for ci_id, identifier in targets}
        # What triggered it, and the changes it implements.
        if category_name == ANTIVIRUS:
            trigger, reference, changes = Trigger.VENDOR_UPDATE, "Vendor signature feed", 0
        elif level == ReleaseLevel.PACKAGE:
            trigger, reference, changes = Trigger.CHANGE_REQUEST, "", rng.randint(2, 4)
        else:
            trigger = rng.choices(
                [
                    Trigger.CHANGE_REQUEST,
                    Trigger.PROBLEM,
                    Trigger.PROJECT_MILESTONE,
                    Trigger.VENDOR_UPDATE,
                    Trigger.MANUAL,
                ],
                [82, 6, 5 if level == ReleaseLevel.FULL else 0, 4, 3],
            )[0]
            changes = 1 if trigger == Trigger.CHANGE_REQUEST else 0
            reference = {
                Trigger.PROBLEM: f"PRB{rng.randint(1000, 9999):07d}",
                Trigger.PROJECT_MILESTONE: f"Milestone {rng.randint(1, 6)}",
                Trigger.VENDOR_UPDATE: f"Vendor advisory {rng.randint(2024, 2026)}-{rng.randint(1, 99):02d}",
            }.get(trigger, "")
            if trigger == Trigger.PROJECT_MILESTONE:
                key = f"PRJ-{rng.randint(100, 999)}"
                release.fields.update(
                    project_key=key, project_url=f"https://jira.example.com/browse/{key}"
                )
        release.fields.update(trigger=trigger, trigger_reference=reference)
        release.change_count = changes
        release.change_type = {EMERGENCY: "emergency", STANDARD: "standard"}.get(
            category_name, "normal"
        )

    def _title(self, unit, level, category_name) -> tuple[str, str]:
        rng = self.rng
        products = unit.products or (unit.name,)
        if category_name == ANTIVIRUS:
            return "Endpoint protection definitions {date}", "Endpoint Protection"
        product = rng.choice(products)
        key = (unit.pk, product)
        version = self.versions.setdefault(key, [rng.randint(1, 4), rng.randint(0, 9), 0])
        if level == ReleaseLevel.FULL:
            version[1] += 1
            version[2] = 0
            return f"{unit.name} {version[0]}.{version[1]} (full)", product
        if level == ReleaseLevel.PACKAGE:
            version[1] += 1
            version[2] = 0
            return f"{unit.name} {version[0]}.{version[1]} bundle", product
        version[2] += 1
        label = f"{product} {version[0]}.{version[1]}.{version[2]}"
        return (f"{label} hotfix" if category_name == EMERGENCY else label), product

    # The timeline: offsets in seconds from the moment the release was requested.

    def _step(self, release, name, source, target, t, by=None, reason="", details=None) -> float:
        release.transitions.append((name, source, target, t, by, reason, details or {}))
        return t

    def _walk_to_deployment(self, release, level, kind, x, failing, targets) -> None:
        """requested → … → verified (with failed tests and verification on the way), or up to
        the state a cancelled release was cancelled in."""
        rng = self.rng
        manager = self.users.release_manager
        # Lead times shrink over the year (median about 150 h to 100 h): the process gets faster.
        pace = release.pace = 1.1 - 0.6 * x
        hours = {
            ReleaseLevel.DELTA: (2, 30, 2, 24),
            ReleaseLevel.PACKAGE: (12, 72, 16, 72),
            ReleaseLevel.FULL: (24, 120, 36, 120),
        }[level]

        def gap(a, b):
            return rng.uniform(a, b) * HOUR * pace

        stop = None
        if kind == "cancelled":
            options = [S.REQUESTED, S.PLANNED, S.BUILT, S.TESTING, S.ACCEPTED, S.ROLLOUT_PLANNED]
            weights = [25, 25, 12, 20, 8, 10]
            if failing:
                options.append(S.VERIFICATION_FAILED)
                weights.append(40)
            stop = rng.choices(options, weights)[0]
        release.stop = stop
        t = 0.0
        state = S.REQUESTED

        def go(name, target, at, by=manager, reason="", details=None):
            nonlocal state
            self._step(release, name, state, target, at, by, reason, details)
            state = target
            return state == stop

        if stop == S.REQUESTED:
            release.t = t
            return
        t += gap(hours[0], hours[1])
        cab = "Approved by the CAB." if rng.random() < 0.3 else ""
        if go("plan", S.PLANNED, t, reason=cab):
            release.t = t
            return
        t += gap(1, 24)
        if go("build", S.BUILT, t):
            release.t = t
            return
        fail_tests = rng.random() < {"delta": 0.06, "package": 0.12, "full": 0.18}[level]
        while True:
            t += gap(0.25, 4)
            if go("start_tests", S.TESTING, t):
                release.t = t
                return
            if not fail_tests:
                break
            fail_tests = False
            t += gap(2, 24)
            go("fail_tests", S.BUILT, t, reason=rng.choice(FAIL_TEST_REASONS))
            t += gap(4, 48)  # the fix, then a new test run
        t += gap(hours[2], hours[3])
        if go("accept", S.ACCEPTED, t):
            release.t = t
            return
        t += gap(0.5, 12)
        if go("plan_rollout", S.ROLLOUT_PLANNED, t):
            release.t = t
            return
        t += gap(1, 24)
        verifier = rng.choice((self.users.config_manager, manager))
        checks = 2 * len(targets) + 2
        if failing:
            found = self._verification_errors(release, targets, t)
            go(
                "fail_verification",
                S.VERIFICATION_FAILED,
                t,
                by=None,
                reason=f"{found} of {checks} checks failed (verification run by {verifier.get_username()}).",
                details={"checks": checks, "failed": found},
            )
            if state == stop:
                release.t = t
                return
            t += gap(4, 72)
            if rng.random() < 0.3:
                go("replan", S.PLANNED, t, reason=rng.choice(REPLAN_REASONS))
                t += gap(1, 8)
            go("build", S.BUILT, t)
            t += gap(0.25, 2)
            go("start_tests", S.TESTING, t)
            t += gap(1, 12)
            go("accept", S.ACCEPTED, t)
            t += gap(0.25, 4)
            go("plan_rollout", S.ROLLOUT_PLANNED, t)
            t += gap(0.5, 6)
            for error in release.errors:  # found no more when verified again
                if error["source"] == ErrorSource.VERIFICATION:
                    error["resolved"] = t
                    error["resolution"] = "No longer found when {number} was verified again."
        go("verify", S.VERIFIED, t, by=verifier, details={"checks": checks, "failed": 0})
        release.t = t

    def _verification_errors(self, release, targets, t) -> int:
        rng = self.rng
        # Every failed run recorded at least one error; the rest of the budget goes elsewhere.
        found = min(max(self.verification_budget, 1), rng.choices((1, 2, 3), (55, 30, 15))[0])
        self.verification_budget -= found
        product = release.product
        licence_id, licence_name = rng.choice(self.licences)
        for k in range(found):
            ci_id, identifier = rng.choice(targets)
            kind = rng.choices(
                [
                    ErrorKind.VERSION_MISMATCH,
                    ErrorKind.RETIRED_TARGET,
                    ErrorKind.SEATS_EXCEEDED,
                    ErrorKind.LICENCE_EXPIRED,
                    ErrorKind.LICENCE_MISSING,
                ],
                [50, 15, 15, 10, 10],
            )[0]
            error = self._error_text(kind, identifier, product, licence_name)
            if ERROR_KIND_CATEGORY[kind] == "licence":
                error.update(
                    licence_id=licence_id, ci_id=None, subject=f"{licence_name} for {{number}}"
                )
                fingerprint = f"verification:{{number}}:licence:{kind}:{k}"
            else:
                error["ci_id"] = ci_id
                fingerprint = f"verification:{{number}}:ci={ci_id}:{kind}:{k}"
            error.update(
                source=ErrorSource.VERIFICATION,
                kind=kind,
                reference="{number}",
                fingerprint=fingerprint,
                detected=t,
            )
            release.errors.append(error)
        return found

    def _error_text(self, kind, identifier, product, licence_name) -> dict:
        rng = self.rng
        major, minor = rng.randint(1, 9), rng.randint(0, 20)
        texts = {
            ErrorKind.VERSION_MISMATCH: (
                f"{product} on {identifier}",
                f"{product} {major}.{minor} installed (the version recorded in the CMDB)",
                f"{product} {major}.{max(minor - 1, 0)} installed",
            ),
            ErrorKind.RETIRED_TARGET: (
                identifier,
                "an active configuration item",
                "status retired",
            ),
            ErrorKind.MISSING_TARGET: (
                identifier,
                "a configuration item recorded in the CMDB",
                "no such configuration item",
            ),
            ErrorKind.DUPLICATE_IDENTITY: (
                f"serial number of {identifier}",
                "one configuration item per serial number",
                f"{identifier} and another CI share serial HQ-{rng.randint(7000, 9999)}",
            ),
            ErrorKind.BROKEN_RELATIONSHIP: (
                f"runs on {identifier}",
                "a relationship to an active configuration item",
                f"{identifier} is retired",
            ),
            ErrorKind.UNAUTHORISED_SOFTWARE: (
                f"{product} {major}.{minor} on {identifier}",
                "only authorised DSL versions installed",
                f"{product} {major}.{minor} is not in the DSL",
            ),
            ErrorKind.SEATS_EXCEEDED: (
                licence_name,
                f"at most {rng.choice((40, 200, 205, 250))} seats in use",
                f"{rng.randint(1, 12)} seat(s) more in use",
            ),
            ErrorKind.LICENCE_EXPIRED: (
                licence_name,
                "a valid licence for every installation",
                "the licence has expired",
            ),
            ErrorKind.LICENCE_MISSING: (
                f"{product} on {identifier}",
                "a licence covering the installation",
                "no licence in the CMDB",
            ),
        }
        subject, expected, found = texts[kind]
        return {"subject": subject, "expected": expected, "found": found}

    def _cancel(self, release, anchor) -> None:
        rng = self.rng
        t = release.t + rng.uniform(2, 7 * 24) * HOUR
        by = rng.choice((self.users.release_manager, self.users.change_manager))
        state = release.transitions[-1][2] if release.transitions else S.REQUESTED
        self._step(release, "cancel", state, S.CANCELLED, t, by, rng.choice(CANCEL_REASONS))
        release.base = anchor - timedelta(seconds=t)
        # The windows it was planned for, never used.
        start = (anchor + timedelta(days=rng.randint(2, 14))).replace(minute=0, second=0)
        release.windows = (start, start + timedelta(hours=20), start + timedelta(hours=22))
        release.window_end = release.windows[2] + timedelta(hours=4)
        release.outcome = "cancelled"

    # Deployment

    def _deploy(self, release, unit, kind, anchor) -> None:
        rng = self.rng
        manager = self.users.release_manager
        targets = release.targets
        n = len(targets)
        # Distribution starts on the hour (the window's start); installation 22 hours later.
        d = release.t + rng.uniform(2, 36) * HOUR * release.pace
        d = math.ceil(d / HOUR) * HOUR
        i = d + 22 * HOUR
        release.base = anchor - timedelta(seconds=i)
        release.limit = (self.now - release.base).total_seconds() - 10 * MINUTE
        release.windows_offsets = (d, d + 20 * HOUR, i)
        self._step(
            release,
            "distribute",
            S.VERIFIED,
            S.DISTRIBUTING,
            d + rng.uniform(0, 10) * MINUTE,
            manager,
        )
        spread = rng.uniform(0.5, 16) * HOUR
        for target in targets:
            target[1] = DS.DELIVERED
            target[7] = d + rng.uniform(MINUTE, spread)
            target[10] = target[7]
        delivered = max(t[7] for t in targets) + rng.uniform(0.005, 0.08)
        self._step(
            release,
            "complete_distribution",
            S.DISTRIBUTING,
            S.DISTRIBUTED,
            delivered,
            None,
            details={"delivered": n},
        )
        # Installations are scheduled from the moment ``install`` is taken.
        started = i + rng.uniform(0, 10) * MINUTE
        self._step(
            release,
            "install",
            S.DISTRIBUTED,
            S.INSTALLING,
            started,
            manager,
            reason=rng.choice(("", "", "Installation window opened as planned.")),
        )
        length = (
            rng.choice((8, 12, 24, 48)) if release.endpoints else rng.choice((2, 4, 4, 6))
        ) * HOUR
        release.window_length = length
        release.i = i
        mode = release.fields["installation_mode"]
        self._schedule(release, started, mode)
        if kind in ("completed", "backout_health"):
            self._install_all(release, started, allow_retries=True)
            done = self._complete_installation(release)
            if kind == "completed":
                self._review(release, done)
            else:
                met = self._later(release, done, 0.2, 6)
                condition = f"health signal “{release.signal}” failed"
                self._require_backout(release, met, S.INSTALLED, condition, halted=0)
                self._decide_and_back_out(release, met, automatic=False, withdrawn=False)
        elif kind == "backout_window" and n >= 2:
            self._window_ends(release, started)
        else:
            met = self._fail_until_condition(release, started)
            if kind.startswith("override"):
                self._override(release, met, withdrawn_first=kind == "override_withdrawn")
            else:
                self._decide_and_back_out(
                    release,
                    met,
                    automatic=kind == "backout_auto",
                    withdrawn=kind == "backout_withdrawn",
                )

    def _schedule(self, release, start, mode) -> None:
        """What ``schedule_installations`` gives the targets at ``install``."""
        targets = release.targets
        if mode == InstallationMode.CONDITION:
            for target in targets:
                target[2] = IS.WAITING
            return
        if mode == InstallationMode.MANUAL:
            return
        size = release.fields["wave_size"] or len(targets) or 1
        interval = release.fields["wave_interval_minutes"] * MINUTE
        for index, target in enumerate(targets):
            wave = index // size + 1
            target[2], target[3], target[4] = IS.SCHEDULED, wave, start + interval * (wave - 1)

    def _dispatch_time(self, release, target, start) -> float:
        rng = self.rng
        mode = release.fields["installation_mode"]
        if mode == InstallationMode.SCHEDULED and target[4] is not None:
            return max(target[4], start) + rng.uniform(5, 59)  # the picker runs every minute
        if mode == InstallationMode.CONDITION:
            return start + rng.uniform(0.02, 0.6) * release.window_length
        return start + rng.uniform(0.02, 0.4) * release.window_length  # a manual trigger

    def _duration(self, release) -> float:
        return self.rng.uniform(2, 12 if release.endpoints else 25) * MINUTE

    def _install_all(self, release, start, *, allow_retries) -> None:
        """Every target installs; a few fail first and succeed on a manual retry (never so many
        at once that the failure rate would cross its threshold)."""
        rng = self.rng
        targets = release.targets
        n = len(targets)
        retries = 0
        if allow_retries:
            limit = math.floor(release.threshold * n / 100)
            retries = min(limit, sum(1 for _ in range(n) if rng.random() < 0.03))
        retrying = set(rng.sample(range(n), retries))
        for index, target in enumerate(targets):
            dispatched = self._dispatch_time(release, target, start)
            finished = dispatched + self._duration(release)
            if index in retrying:
                dispatched = finished + rng.uniform(10, 60) * MINUTE  # install now, by hand
                finished = dispatched + self._duration(release)
                target[6] = 2
            else:
                target[6] = 1
            target[2], target[5], target[8] = IS.SUCCEEDED, dispatched, finished
            target[10], target[11] = finished, "installed"
        end = max(t[8] for t in targets) + rng.uniform(10, 90) * MINUTE
        planned = release.i + release.window_length
        release.window_end = math.ceil(max(end, planned) / HOUR) * HOUR
        if release.late_allowed and rng.random() < 0.5:
            # No window condition declared: an installation or two finished after the window.
            late = rng.sample(targets, min(n, rng.randint(1, max(2, n // 12))))
            for target in late:
                target[5] = release.window_end - rng.uniform(1, 10) * MINUTE
                target[8] = release.window_end + rng.uniform(1, 40) * MINUTE
                target[10] = target[8]

    def _complete_installation(self, release) -> float:
        done = max(t[8] for t in release.targets) + self.rng.uniform(0.005, 0.08)
        self._step(
            release,
            "complete_installation",
            S.INSTALLING,
            S.INSTALLED,
            done,
            None,
            details={"installed": len(release.targets)},
        )
        release.installed_at = done
        return done

    def _review(self, release, done) -> None:
        rng = self.rng
        manager = self.users.release_manager
        reviewed = self._later(release, done, 2, 72)
        self._step(
            release,
            "review",
            S.INSTALLED,
            S.REVIEWED,
            reviewed,
            manager,
            rng.choice(REVIEW_REASONS),
        )
        release.ended = reviewed
        release.outcome = "completed"
        self._step(
            release, "close", S.REVIEWED, S.CLOSED, self._later(release, reviewed, 0.2, 48), manager
        )

    def _later(self, release, t, low, high) -> float:
        """Some hours after ``t`` — sooner for the latest releases, so nothing happens after now."""
        rng = self.rng
        return t + min(rng.uniform(low, high) * HOUR, (release.limit - t) * rng.uniform(0.3, 0.6))

    def _fail_until_condition(self, release, start) -> float:
        """Installations run until the failure rate crosses its threshold; the not yet started
        ones are then halted. Returns the moment the condition was met."""
        rng = self.rng
        targets = release.targets
        n = len(targets)
        failures = math.floor(release.threshold * n / 100) + 1
        if release.fields["installation_mode"] == InstallationMode.SCHEDULED:
            # whole waves ran; the next wave was not due yet when the condition was met
            size = release.fields["wave_size"] or n
            ran = targets[: min(n, math.ceil(failures / size) * size)]
        else:
            ran = rng.sample(targets, rng.randint(failures, n))
        for target in ran:
            target[5] = self._dispatch_time(release, target, start)
            target[8] = target[5] + self._duration(release)  # reported at, for now
            target[6] = 1
        ran.sort(key=lambda target: target[8])
        # The last report is the failure that crossed the threshold.
        failed = {id(ran[-1])} | {id(t) for t in rng.sample(ran[:-1], failures - 1)}
        for target in ran:
            reported = target[8]
            target[10] = reported
            if id(target) in failed:
                target[2], target[8], target[11] = (
                    IS.FAILED,
                    None,
                    "exit code 1603: fatal error during installation",
                )
            else:
                target[2], target[11] = IS.SUCCEEDED, "installed"
        met = ran[-1][10] + rng.uniform(0.005, 0.05)
        halted = 0
        for target in targets:
            if target[2] in (IS.PENDING, IS.SCHEDULED, IS.WAITING):
                target[2] = IS.HALTED
                halted += 1
        rate = round(100 * failures / n, 2)
        condition = f"failure rate {rate}% is above {release.threshold:.2f}%"
        self._require_backout(release, met, S.INSTALLING, condition, halted=halted)
        release.window_end = math.ceil((release.i + release.window_length) / HOUR) * HOUR
        return met

    def _window_ends(self, release, start) -> None:
        """Condition mode: some targets never reported few enough logins; the watchdog finds the
        window ended with them not installed."""
        rng = self.rng
        targets = release.targets
        n = len(targets)
        end = math.ceil((release.i + release.window_length) / HOUR) * HOUR
        release.window_end = end
        installed = rng.sample(targets, rng.randint(1, n - 1))
        for target in installed:
            target[5] = start + rng.uniform(0.02, 0.7) * release.window_length
            target[8] = target[5] + self._duration(release)
            target[2], target[6], target[10], target[11] = IS.SUCCEEDED, 1, target[8], "installed"
        halted = 0
        for target in targets:
            if target[2] == IS.WAITING:
                target[2] = IS.HALTED
                halted += 1
        met = end + rng.uniform(5, 59)
        condition = f"the installation window ended with {halted} of {n} targets not installed"
        self._require_backout(release, met, S.INSTALLING, condition, halted=halted)
        self._decide_and_back_out(release, met, automatic=False, withdrawn=False)

    def _figures(self, release) -> dict:
        targets = release.targets
        n = len(targets)
        installed = sum(1 for t in targets if t[8] is not None)
        failed = sum(1 for t in targets if t[2] == IS.FAILED)
        return {
            "targets": n,
            "distributed": n,
            "distribution_failed": 0,
            "installed": installed,
            "installation_failed": failed,
            "failure_rate_percent": round(100 * failed / n, 2) if n else 0.0,
        }

    def _require_backout(self, release, met, source, condition, *, halted) -> None:
        figures = {**self._figures(release), "halted": halted}
        self._step(
            release,
            "require_backout",
            source,
            S.BACKOUT_REQUIRED,
            met,
            None,
            f"Failure condition met: {condition}.",
            figures,
        )
        release.required = met
        release.deadline = met + release.fields["backout_decision_minutes"] * MINUTE
        release.condition = condition[:300]
        release.figures = figures

    def _decide_and_back_out(self, release, met, *, automatic, withdrawn) -> None:
        rng = self.rng
        minutes = release.fields["backout_decision_minutes"]
        ops = list(self.users.ops)
        rng.shuffle(ops)
        if withdrawn:
            asked = met + rng.uniform(1, 0.3 * minutes) * MINUTE
            release.overrides.append(
                [OverrideStatus.WITHDRAWN, rng.choice(WITHDRAWN_REASONS), ops[0], asked, None, None]
            )
        if automatic:
            decided = release.deadline + rng.uniform(5, 55)
            self._step(
                release,
                "approve_backout",
                S.BACKOUT_REQUIRED,
                S.BACKING_OUT,
                decided,
                None,
                AUTO_REASON,
            )
            release.automatic = True
        else:
            decided = met + rng.uniform(0.4 if withdrawn else 0.05, 0.9) * minutes * MINUTE
            self._step(
                release, "approve_backout", S.BACKOUT_REQUIRED, S.BACKING_OUT, decided, ops[-1]
            )
        release.decided = decided
        touched = [t for t in release.targets if t[2] in (IS.RUNNING, IS.SUCCEEDED, IS.FAILED)]
        failed_backout = None
        if len(touched) >= 2 and rng.random() < 0.2:
            failed_backout = rng.choice(touched)
        last = decided
        for target in touched:
            reported = decided + rng.uniform(2, 45) * MINUTE
            last = max(last, reported)
            target[10] = reported
            if target is failed_backout:
                target[2], target[11] = (
                    IS.BACKOUT_FAILED,
                    "restore failed: previous version not in the local cache",
                )
                self._backout_failed_error(release, target, reported)
            else:
                target[2], target[9], target[11] = (
                    IS.BACKED_OUT,
                    reported,
                    "previous version restored",
                )
        restored = sum(1 for t in touched if t[2] == IS.BACKED_OUT)
        details = {"restored": restored, "failed": len(touched) - restored}
        if not touched:
            details = {"targets": 0}
        ended = last + rng.uniform(0.005, 0.08)
        self._step(
            release, "complete_backout", S.BACKING_OUT, S.BACKED_OUT, ended, None, details=details
        )
        release.ended = ended
        release.outcome = "backed_out"
        self._step(
            release,
            "close",
            S.BACKED_OUT,
            S.CLOSED,
            self._later(release, ended, 2, 72),
            self.users.release_manager,
            "Backed out; the causes are followed up in a problem record.",
        )

    def _backout_failed_error(self, release, target, at) -> None:
        identifier = release.target_names[target[0]]
        resolved = at + self.rng.uniform(2, 96) * HOUR
        release.errors.append(
            {
                "source": ErrorSource.AGENT_REPORT,
                "kind": ErrorKind.VERSION_MISMATCH,
                "subject": f"{identifier}: back-out of {{number}} failed",
                "expected": "the version recorded before the release, restored",
                "found": target[11],
                "ci_id": target[0],
                "reference": "{number}",
                "fingerprint": f"backout_failed:{{number}}:ci={target[0]}",
                "detected": at,
                "resolved": resolved,
                "resolution": "Restored by hand from the DSL; the CMDB shows the previous version.",
                "resolved_by": self.users.config_manager.pk,
            }
        )

    def _override(self, release, met, *, withdrawn_first) -> None:
        """Two ops people agree to go on: one asks with a reason, the other confirms before the
        deadline; the halted targets are scheduled again and the failed ones retried by hand."""
        rng = self.rng
        minutes = release.fields["backout_decision_minutes"]
        asker, confirmer = rng.sample(list(self.users.ops), 2)
        asked = met + rng.uniform(1, 0.25 * minutes) * MINUTE
        if withdrawn_first:
            release.overrides.append(
                [
                    OverrideStatus.WITHDRAWN,
                    rng.choice(WITHDRAWN_REASONS),
                    confirmer,
                    asked,
                    None,
                    None,
                ]
            )
            asked += rng.uniform(1, 0.2 * minutes) * MINUTE
        confirmed = asked + rng.uniform(1, 0.4 * minutes) * MINUTE
        reason = rng.choice(OVERRIDE_REASONS)
        release.overrides.append(
            [OverrideStatus.CONFIRMED, reason, asker, asked, confirmer, confirmed]
        )
        self._step(
            release,
            "override_backout",
            S.BACKOUT_REQUIRED,
            S.INSTALLING,
            confirmed,
            confirmer,
            f"Override requested by {asker.get_username()}: {reason}",
            {"override": len(release.overrides) - 1},
        )
        release.decided = confirmed
        # Halted targets go back to pending and are scheduled again from now, in new waves.
        resumed = [t for t in release.targets if t[2] == IS.HALTED]
        size = release.fields["wave_size"] or len(resumed) or 1
        interval = release.fields["wave_interval_minutes"] * MINUTE
        for index, target in enumerate(resumed):
            wave = index // size + 1
            target[3], target[4] = wave, confirmed + interval * (wave - 1)
            target[5] = target[4] + rng.uniform(5, 59)
            target[8] = target[5] + self._duration(release)
            target[2], target[6], target[10], target[11] = IS.SUCCEEDED, 1, target[8], "installed"
        for target in release.targets:
            if target[2] == IS.FAILED:  # retried by hand
                target[5] = confirmed + rng.uniform(5, 30) * MINUTE
                target[8] = target[5] + self._duration(release)
                target[2], target[6], target[10], target[11] = (
                    IS.SUCCEEDED,
                    target[6] + 1,
                    target[8],
                    "installed",
                )
        last = max(t[8] for t in release.targets)
        release.window_end = max(release.window_end, math.ceil((last + 30 * MINUTE) / HOUR) * HOUR)
        done = self._complete_installation(release)
        self._review(release, done)

    # From offsets to rows

    def _finish(self, release) -> None:
        """Turn offsets into times and fill the release's fields and counters."""
        at = lambda t: None if t is None else release.base + timedelta(seconds=t)  # noqa: E731
        f = release.fields
        last = release.transitions[-1]
        f["state"] = last[2]
        f["state_changed_at"] = at(last[3])
        f["outcome"] = release.outcome
        f["ended_at"] = at(release.ended) if release.outcome != "cancelled" else at(last[3])
        if release.outcome == "cancelled":
            f["distribution_start"], f["distribution_end"], f["installation_start"] = (
                release.windows
            )
            f["installation_end"] = release.window_end
        else:
            d, d_end, i = release.windows_offsets
            f["distribution_start"], f["distribution_end"], f["installation_start"] = (
                at(d),
                at(d_end),
                at(i),
            )
            f["installation_end"] = at(release.window_end)
        f["installed_at"] = at(release.installed_at)
        if release.required is not None:
            f["backout_required_at"] = at(release.required)
            f["backout_deadline"] = at(release.deadline)
            f["backout_condition"] = release.condition
            f["backout_figures"] = release.figures
            f["backout_decided_at"] = at(release.decided)
            f["backout_started_automatically"] = release.automatic
        targets = release.targets
        f["count_targets"] = len(targets)
        f["count_distributed"] = sum(1 for t in targets if t[1] == DS.DELIVERED)
        f["count_installed"] = sum(1 for t in targets if t[8] is not None)
        f["count_install_failed"] = sum(
            1 for t in targets if t[8] is None and t[6] > 0 and t[2] != IS.HALTED
        )
        f["count_backed_out"] = sum(1 for t in targets if t[2] == IS.BACKED_OUT)
        f["count_backout_failed"] = sum(1 for t in targets if t[2] == IS.BACKOUT_FAILED)
        for target in targets:
            for k in (4, 5, 7, 8, 9, 10):
                target[k] = at(target[k])
        release.transitions = [
            (name, source, target, at(t), by, reason, details)
            for name, source, target, t, by, reason, details in release.transitions
        ]
        release.overrides = [
            [status, reason, asker, at(asked), confirmer, at(confirmed)]
            for status, reason, asker, asked, confirmer, confirmed in release.overrides
        ]
        for error in release.errors:
            error["detected"] = at(error["detected"])
            resolved = at(error.get("resolved"))
            error["resolved"] = resolved if resolved is not None and resolved < self.now else None
        release.created_at = release.base
        release.year_created = release.base.year
        f["title"] = f["title"].replace("{date}", f"{release.base:%Y-%m-%d}")
        # Cancelled after a failed verification: corrected by hand some days later, or still open.
        for error in release.errors:
            if error["resolved"] is None and error["source"] == ErrorSource.VERIFICATION:
                later = f["ended_at"] + timedelta(days=self.rng.uniform(1, 20))
                if later < self.now:
                    error["resolved"] = later
                    error["resolution"] = "Corrected in the CMDB after {number} was cancelled."
                    error["resolved_by"] = self.users.config_manager.pk
        if release.outcome == "completed":
            self.counts["completed"] += 1
        else:
            self.counts[release.outcome] += 1
        self.counts["automatic_backouts"] += release.automatic

    # Writing a chunk

    def _write(self, chunk: list[_Release]) -> None:
        """Number the chunk's releases in the order they were created and insert them with
        everything that hangs off them: a few statements per table, whatever the chunk's size."""
        chunk.sort(key=lambda r: r.created_at)
        for release in chunk:
            year = release.year_created
            self.sequences[year] = self.sequences.get(year, 0) + 1
            release.number = f"REL-{year}-{self.sequences[year]:04d}"
            release.fields.update(number=release.number, created_at=release.created_at)
        changes = self._changes(chunk)  # they name the release's trigger
        rows = [release.fields for release in chunk]
        objects = self._insert(Release, *_columns(Release, rows))
        if objects is None:  # COPY: read the keys back by number
            keys = dict(
                Release.objects.filter(number__in=[r.number for r in chunk]).values_list(
                    "number", "pk"
                )
            )
            for release in chunk:
                release.pk = keys[release.number]
        else:
            for obj, release in zip(objects, chunk, strict=True):
                release.pk = obj.pk
        self.counts["releases"] += len(chunk)

        objects = self._insert(ChangeRequest, *_columns(ChangeRequest, [c for _, c in changes]))
        if objects is None:
            keys = dict(
                (
                    ((source, external), pk)
                    for source, external, pk in ChangeRequest.objects.filter(
                        external_id__in=[c["external_id"] for _, c in changes]
                    ).values_list("source_system", "external_id", "pk")
                )
            )
            change_pks = [keys[c["source_system"], c["external_id"]] for _, c in changes]
        else:
            change_pks = [obj.pk for obj in objects]
        through = Release.change_requests.through
        self._insert(
            through,
            ("release_id", "changerequest_id"),
            [(release.pk, pk) for (release, _), pk in zip(changes, change_pks, strict=True)],
        )
        self.counts["change_requests"] += len(changes)

        self._insert(
            FailureCondition,
            ("release_id", "kind", "threshold", "parameters", "description"),
            [
                (release.pk, kind, threshold, parameters, "")
                for release in chunk
                for kind, threshold, parameters in release.conditions
            ],
        )
        self._insert(
            BackoutStep,
            ("release_id", "position", "description"),
            [
                (release.pk, position, text)
                for release in chunk
                for position, text in enumerate(BACKOUT_STEPS, start=1)
            ],
        )
        overrides = []
        for release in chunk:
            release.override_rows = []
            for status, reason, asker, asked, confirmer, confirmed in release.overrides:
                row = BackoutOverride(
                    release_id=release.pk,
                    status=status,
                    reason=reason,
                    requested_by=asker,
                    requested_at=asked,
                    confirmed_by=confirmer,
                    confirmed_at=confirmed,
                )
                overrides.append(row)
                release.override_rows.append(row)
                self.counts[f"overrides_{status}"] += 1
        BackoutOverride.objects.bulk_create(overrides, batch_size=BATCH)  # a few: keys needed
        self.counts["transitions"] += self._insert(
            ReleaseTransition,
            (
                "release_id",
                "name",
                "source",
                "target",
                "at",
                "by_id",
                "by_name",
                "reason",
                "details",
            ),
            (
                (
                    release.pk,
                    name,
                    source,
                    target,
                    at,
                    by.pk if by is not None else None,
                    by.get_username() if by is not None else SYSTEM_ACTOR,
                    reason,
                    {"override": release.override_rows[details["override"]].pk}
                    if name == "override_backout"
                    else details,
                )
                for release in chunk
                for name, source, target, at, by, reason, details in release.transitions
            ),
            count=True,
        )
        self.counts["targets"] += self._insert(
            ReleaseTarget,
            TARGET_COLUMNS,
            ((release.pk, *target) for release in chunk for target in release.targets),
            count=True,
        )
        errors = [
            self._discrepancy(error, release.number)
            for release in chunk
            for error in release.errors
        ]
        self._insert(Discrepancy, *_columns(Discrepancy, errors))
        self.counts["errors"] += len(errors)

    def _changes(self, chunk) -> list[tuple[_Release, dict]]:
        """The change requests each release implements, approved a little before it was
        created; the first names a change-triggered release's trigger."""
        rng = self.rng
        result = []
        for release in chunk:
            f = release.fields
            for k in range(release.change_count):
                self._change_index += 1
                digest = hashlib.sha1(
                    f"{release.number}:{k}".encode(), usedforsecurity=False
                ).hexdigest()
                if rng.random() < 0.15:
                    source, external = JIRA_SOURCE, str(int(digest[:12], 16))
                    number = f"OPS-{10000 + self._change_index}"
                    url = f"https://jira.example.com/browse/{number}"
                else:
                    source, external = HISTORY_SOURCE, digest[:32]
                    number = f"CHG{2000000 + self._change_index:07d}"
                    url = f"https://servicenow.example.com/change_request.do?sys_id={external}"
                approved = release.created_at - timedelta(hours=rng.uniform(1, 24))
                if release.outcome == "cancelled" and rng.random() < 0.3:
                    approved = None  # cancelled before the CAB approved it
                received = (approved or release.created_at) - timedelta(hours=rng.uniform(2, 120))
                title = f["title"] if release.change_count == 1 else f"{f['title']}: part {k + 1}"
                change = {
                    "source_system": source,
                    "external_id": external,
                    "number": number,
                    "title": title,
                    "state": "canceled" if release.outcome == "cancelled" else "closed",
                    "change_type": release.change_type,
                    "planned_start": f["installation_start"],
                    "planned_end": f["installation_end"],
                    "url": url,
                    "approved_at": approved,
                    "created_at": received,
                }
                result.append((release, change))
                if k == 0 and f["trigger"] == Trigger.CHANGE_REQUEST:
                    f["trigger_reference"] = number
        return result

    def _insert(self, model, columns, rows, *, count: bool = False):
        """Insert ``rows`` (tuples in the order of ``columns``; the model's other fields get
        their defaults, ``auto_now`` ones now) — by PostgreSQL's COPY, else ``bulk_create`` in
        batches, with the times given kept (``bulk_create`` stamps ``auto_now_add`` fields with
        now: they are set again in one ``bulk_update``). Returns the number of rows with
        ``count``, else the objects created (their keys), or None after a COPY."""
        fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
        rest = [f for name, f in fields.items() if name not in columns]
        extra = tuple(
            self.now
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            else f.get_default()
            for f in rest
        )
        names = (*columns, *(f.attname for f in rest))
        written = 0
        if self.is_postgres:
            from psycopg.types.json import Jsonb  # the driver is loaded on PostgreSQL only

            json_at = [i for i, name in enumerate(names) if isinstance(fields[name], JSONField)]
            table = connection.ops.quote_name(model._meta.db_table)
            quoted = ", ".join(connection.ops.quote_name(name) for name in names)
            # Binary: no timestamps formatted here and parsed there, several times faster.
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types([_pg_type(fields[name]) for name in names])
                for row in rows:
                    row = (*row, *extra)
                    if json_at:
                        row = list(row)
                        for i in json_at:
                            row[i] = Jsonb(row[i])
                    copy.write_row(row)
                    written += 1
            return written if count else None
        stamped = [
            name
            for name in columns
            if getattr(fields[name], "auto_now_add", False)
            or getattr(fields[name], "auto_now", False)
        ]
        objects = []
        for row in rows:
            objects.append(model(**dict(zip(names, (*row, *extra), strict=True))))
        if stamped:
            given = [[getattr(obj, name) for name in stamped] for obj in objects]
        model.objects.bulk_create(objects, batch_size=BATCH)
        if stamped and objects:
            for obj, values in zip(objects, given, strict=True):
                for name, value in zip(stamped, values, strict=True):
                    setattr(obj, name, value)
            model.objects.bulk_update(objects, stamped, batch_size=1000)
        return len(objects) if count else objects

    def _discrepancy(self, error: dict, number: str) -> dict:
        def fill(text):
            return text.replace("{number}", number)

        return {
            "category": ERROR_KIND_CATEGORY[error["kind"]],
            "kind": error["kind"],
            "source": error["source"],
            "ci_id": error.get("ci_id"),
            "licence_id": error.get("licence_id"),
            "subject": fill(error["subject"])[:200],
            "expected": error["expected"],
            "found": error["found"],
            "reference": fill(error.get("reference", "")),
            "fingerprint": fill(error["fingerprint"])[:255],
            "detected_at": error["detected"],
            "resolved_at": error["resolved"],
            "resolved_by_id": error.get("resolved_by") if error["resolved"] else None,
            "resolution": fill(error.get("resolution", "")) if error["resolved"] else "",
        }

    # Errors found outside releases: agents, imports, the integrity check, people.

    def _write_other_errors(self) -> None:
        rng = self.rng
        remaining = self.error_total - self.counts["errors"]
        cis = [target for unit in self.units for target in unit.targets]
        products = sorted({p for unit in self.units for p in unit.products} or {"Billing Service"})
        batch = []
        for _ in range(max(0, remaining)):
            source = rng.choices(
                [
                    ErrorSource.AGENT_REPORT,
                    ErrorSource.INTEGRITY_CHECK,
                    ErrorSource.IMPORT,
                    ErrorSource.MANUAL,
                ],
                [33, 34, 20, 13],
            )[0]
            kind = rng.choice(
                {
                    ErrorSource.AGENT_REPORT: (
                        ErrorKind.VERSION_MISMATCH,
                        ErrorKind.VERSION_MISMATCH,
                        ErrorKind.UNAUTHORISED_SOFTWARE,
                    ),
                    ErrorSource.INTEGRITY_CHECK: (
                        ErrorKind.SEATS_EXCEEDED,
                        ErrorKind.LICENCE_EXPIRED,
                        ErrorKind.LICENCE_MISSING,
                        ErrorKind.RETIRED_TARGET,
                        ErrorKind.UNAUTHORISED_SOFTWARE,
                        ErrorKind.BROKEN_RELATIONSHIP,
                        ErrorKind.DUPLICATE_IDENTITY,
                    ),
                    ErrorSource.IMPORT: (
                        ErrorKind.MISSING_TARGET,
                        ErrorKind.DUPLICATE_IDENTITY,
                        ErrorKind.LICENCE_MISSING,
                        ErrorKind.BROKEN_RELATIONSHIP,
                    ),
                    ErrorSource.MANUAL: tuple(
                        k for k in ErrorKind if k != ErrorKind.HARDWARE_NOT_RESERVED
                    ),
                }[source]
            )
            ci_id, identifier = rng.choice(cis)
            licence_id, licence_name = rng.choice(self.licences)
            error = self._error_text(kind, identifier, rng.choice(products), licence_name)
            # Slightly fewer errors later in the year (density 1 - 0.4·x): the CMDB gets cleaner.
            x = (1 - math.sqrt(1 - 0.64 * rng.random())) / 0.4
            detected = self.start + x * (self.now - HOUR_DELTA - self.start)
            age = (self.now - detected).total_seconds()
            # Recent ones are mostly still open; the integrity check resolves its own when the
            # problem is gone (an open one it no longer finds would be closed on its next run).
            checked = source == ErrorSource.INTEGRITY_CHECK
            open_chance = 0.0 if checked else (0.7 if age < 30 * DAY else 0.08)
            resolved = resolved_by = None
            resolution = ""
            if rng.random() >= open_chance:
                resolved = detected + timedelta(hours=rng.expovariate(1 / 72) + 1)
                if resolved >= self.now:
                    resolved = None
                    if checked:  # gone by the check's latest run
                        resolved = detected + (self.now - detected) * rng.uniform(0.2, 0.9)
            if resolved is not None:
                if checked:
                    resolution = RESOLVED_BY_CHECK
                else:
                    resolution = rng.choice(RESOLUTIONS[kind])
                    resolved_by = self.users.config_manager.pk
            self._error_index += 1
            category = ERROR_KIND_CATEGORY[kind]
            references = {
                ErrorSource.AGENT_REPORT: f"agent {identifier}",
                ErrorSource.IMPORT: f"cmdb-import-{detected:%Y-%m-%d}.csv",
                ErrorSource.MANUAL: f"INC{rng.randint(100000, 999999):07d}",
                ErrorSource.INTEGRITY_CHECK: "",
            }
            batch.append(
                dict(
                    category=category,
                    kind=kind,
                    source=source,
                    ci_id=ci_id if category == "cmdb" else None,
                    licence_id=licence_id if category == "licence" else None,
                    subject=error["subject"][:200],
                    expected=error["expected"],
                    found=error["found"],
                    reference=references[source],
                    fingerprint=f"{source}:{kind}:{identifier}:{self._first_error + self._error_index}",
                    detected_at=detected,
                    resolved_at=resolved,
                    resolved_by_id=resolved_by,
                    resolution=resolution,
                )
            )
            if len(batch) >= BATCH:
                self._insert(Discrepancy, *_columns(Discrepancy, batch))
                self.counts["errors"] += len(batch)
                batch = []
        self._insert(Discrepancy, *_columns(Discrepancy, batch))
        self.counts["errors"] += len(batch)
