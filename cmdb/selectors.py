"""Reads of the CMDB. Seats in use are counted in SQL, in one query for any number of licences;
every list joins what it shows, so a page costs a fixed number of queries."""

from dataclasses import dataclass, field
from datetime import date

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest, Lower
from django.utils import timezone

from cmdb.choices import (
    SERVICE_KINDS,
    CIKind,
    CIStatus,
    Environment,
    ErrorCategory,
    LicenceMetric,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from dsl_dhs.models import HardwareModel, Location

_ACTIVE = Q(installations__removed_at__isnull=True)
# Identifiers per query: under SQLite's 999 bound parameters, and what PostgreSQL plans well.
IDENTIFIER_CHUNK = 900


def cis_by_identifiers(identifiers, *, lock: bool = False) -> dict[str, ConfigurationItem]:
    """The CIs whose identifier is one of ``identifiers``, matched without regard to case, keyed
    by the lower-cased identifier; unknown ones are absent. Served by the CMDB's unique index on
    ``lower(identifier)``: one query per ``IDENTIFIER_CHUNK`` identifiers, however many. ``lock``
    locks the rows (``select_for_update``) for a caller that writes in this transaction."""
    wanted = sorted({name.lower() for name in identifiers if name})
    queryset = ConfigurationItem.objects.annotate(identifier_key=Lower("identifier"))
    if lock:
        queryset = queryset.select_for_update()
    found = {}
    for start in range(0, len(wanted), IDENTIFIER_CHUNK):
        chunk = wanted[start : start + IDENTIFIER_CHUNK]
        found.update({ci.identifier_key: ci for ci in queryset.filter(identifier_key__in=chunk)})
    return found


def licences_with_usage(queryset: QuerySet | None = None) -> QuerySet:
    """Licences annotated with ``seats_in_use`` (installations per seat; distinct devices
    otherwise), ``seats_free`` (None for site licences), ``is_over``, ``is_low`` and ``is_expired``.
    One aggregate query whatever the number of licences and installations."""
    today = timezone.localdate()
    queryset = Licence.objects.all() if queryset is None else queryset
    if not queryset.query.order_by:
        # Meta.ordering is dropped from aggregate queries; keep pages stable.
        queryset = queryset.order_by("licence_product__name", "name", "pk")
    installs = Count("installations", filter=_ACTIVE)
    devices = Count("installations__ci", filter=_ACTIVE, distinct=True)
    return (
        queryset.select_related("licence_product")
        .annotate(
            seats_in_use=Case(
                When(metric=LicenceMetric.PER_SEAT, then=installs),
                default=devices,
                output_field=IntegerField(),
            )
        )
        .annotate(
            seats_free=Case(
                When(metric=LicenceMetric.SITE, then=Value(None)),
                default=Greatest(F("seats") - F("seats_in_use"), Value(0)),
                output_field=IntegerField(),
            ),
            is_over=Case(
                When(
                    ~Q(metric=LicenceMetric.SITE) & Q(seats_in_use__gt=F("seats")), then=Value(True)
                ),
                default=Value(False),
            ),
            is_low=Case(
                When(
                    ~Q(metric=LicenceMetric.SITE)
                    & Q(seats_in_use__gte=F("seats") - F("low_seat_threshold")),
                    then=Value(True),
                ),
                default=Value(False),
            ),
            is_expired=Case(
                When(valid_until__lt=today, then=Value(True)),
                default=Value(False),
            ),
        )
    )


def licence_is_valid_on(licence: Licence, day: date) -> bool:
    return (licence.valid_from is None or licence.valid_from <= day) and (
        licence.valid_until is None or licence.valid_until >= day
    )


def current_installation(*, ci_id: int, product_id: int) -> InstalledSoftware | None:
    return (
        InstalledSoftware.objects.select_related("version", "licence")
        .filter(ci_id=ci_id, product_id=product_id, removed_at__isnull=True)
        .first()
    )


# Configuration items.


def ci_list(queryset: QuerySet | None = None) -> QuerySet:
    """CIs for a list: location and hardware model joined, so a page costs one query however
    long it is. Ordered by the lower-cased identifier, which the unique index covers: the first
    page of 50,000 items is read from the index instead of sorting the table."""
    queryset = ConfigurationItem.objects.all() if queryset is None else queryset
    return queryset.select_related("location", "hardware_model").order_by(Lower("identifier"))


def ci_status_counts(queryset: QuerySet) -> dict[str, int]:
    """``{status: count}`` for the CIs of ``queryset`` (one aggregate query). ``COUNT(*)``, not
    of the id: the status index (or the kind-status-environment one under a kind filter) then
    answers alone, without reading the table's rows."""
    rows = queryset.order_by().values("status").annotate(n=Count("*"))
    return {row["status"]: row["n"] for row in rows}


def ci_target_candidates(
    *, query: str = "", environment: str = "", unit_id: int | None = None, limit: int = 20
) -> list[ConfigurationItem]:
    """CIs to offer as deployment targets: neither retired nor a service or application. With
    ``query``, those whose identifier or name contains it (any case); without, suggestions.
    ``environment`` keeps that environment's only. The CIs the release unit ``unit_id`` runs on
    come first (``runs_unit``), then the others by identifier. One query, at most ``limit + 1``
    rows: one more than asked tells the caller that there are more."""
    queryset = ConfigurationItem.objects.exclude(status=CIStatus.RETIRED).exclude(
        kind__in=SERVICE_KINDS
    )
    if environment:
        queryset = queryset.filter(environment=environment)
    query = query.strip()
    if query:
        queryset = queryset.filter(Q(identifier__icontains=query) | Q(name__icontains=query))
    if unit_id is not None:
        runs = Relationship.objects.filter(
            source_id=unit_id, target_id=OuterRef("pk"), kind=RelationshipKind.RUNS_ON
        )
        queryset = queryset.annotate(runs_unit=Exists(runs))
    else:
        queryset = queryset.annotate(runs_unit=Value(False))
    return list(queryset.order_by("-runs_unit", Lower("identifier"))[: limit + 1])


def unit_host_environment(unit_id: int | None) -> str:
    """The environment most of the CIs the unit runs on are in ("" when it runs on none)."""
    if unit_id is None:
        return ""
    row = (
        ConfigurationItem.objects.filter(
            incoming__source_id=unit_id, incoming__kind=RelationshipKind.RUNS_ON
        )
        .order_by()
        .values("environment")
        .annotate(n=Count("id"))
        .order_by("-n", "environment")
        .first()
    )
    return row["environment"] if row else ""


@dataclass
class RelationshipLine:
    """One relationship as read from one CI: "runs on web-01" or "hosts billing"."""

    relationship: Relationship
    label: str
    other: ConfigurationItem
    outgoing: bool


@dataclass
class HistoryEntry:
    record: object  # a HistoricalConfigurationItem
    when: object
    who: str
    action: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    reason: str = ""


_HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
_HIDDEN_FIELDS = {"updated_at", "created_at"}


def _display(value) -> str:
    if value in (None, ""):
        return "—"
    return str(value)


def ci_history(ci_or_records, *, older=None) -> list[HistoryEntry]:
    """History entries newest first, each with who, when and what changed (field, before, after;
    attribute changes one per attribute). ``ci_or_records`` is a CI (its whole history) or a page
    of its history records newest first, with ``older`` the record just before the page's last.
    Foreign keys are shown by name: one query per kind of key, whatever the length."""
    if isinstance(ci_or_records, ConfigurationItem):
        records = list(
            ci_or_records.history.select_related("history_user").order_by(
                "-history_date", "-history_id"
            )
        )
    else:
        records = list(ci_or_records)
    chain = [*records, older] if older is not None else records
    location_ids, model_ids = set(), set()
    for record in chain:
        location_ids.add(record.location_id)
        model_ids.add(record.hardware_model_id)
    locations = dict(
        Location.objects.filter(pk__in=location_ids - {None}).values_list("pk", "name")
    )
    models = {m.pk: str(m) for m in HardwareModel.objects.filter(pk__in=model_ids - {None})}
    choices = {
        "kind": dict(CIKind.choices),
        "status": dict(CIStatus.choices),
        "environment": dict(Environment.choices),
    }

    def shown(name, value):
        if name == "location":
            return _display(locations.get(value, value))
        if name == "hardware_model":
            return _display(models.get(value, value))
        if name in choices:
            return _display(choices[name].get(value, value))
        return _display(value)

    entries = []
    for index, record in enumerate(records):
        previous = chain[index + 1] if index + 1 < len(chain) else None
        changes = []
        if previous is not None and record.history_type == "~":
            for change in record.diff_against(previous).changes:
                if change.field in _HIDDEN_FIELDS:
                    continue
                if change.field == "attributes":
                    old, new = change.old or {}, change.new or {}
                    for key in sorted(set(old) | set(new)):
                        if old.get(key) != new.get(key):
                            changes.append(
                                (f"attribute {key}", _display(old.get(key)), _display(new.get(key)))
                            )
                    continue
                label = ConfigurationItem._meta.get_field(change.field).verbose_name
                changes.append(
                    (label, shown(change.field, change.old), shown(change.field, change.new))
                )
        user = record.history_user
        entries.append(
            HistoryEntry(
                record=record,
                when=record.history_date,
                who=(user.get_full_name() or user.get_username()) if user else "system",
                action=_HISTORY_TYPES.get(record.history_type, record.history_type),
                changes=changes,
                reason=record.history_change_reason or "",
            )
        )
    return entries


@dataclass
class CIDetail:
    ci: ConfigurationItem
    attributes: list[tuple[str, object]]
    relationships: list[RelationshipLine]
    current_software: list[InstalledSoftware]
    previous_software: list[InstalledSoftware]
    history: list[HistoryEntry]
    history_more: bool
    open_errors: list[Discrepancy]
    closed_errors: list[Discrepancy]


HISTORY_ON_PAGE = 30
CLOSED_ERRORS_ON_PAGE = 20


def ci_detail(ci_id: int, *, history_limit: int | None = HISTORY_ON_PAGE) -> CIDetail:
    """Everything the CI page shows, in a fixed number of queries: the CI, its relationships
    both ways, installed software (current and previous), recent history with changes, errors.
    ``history_limit=None`` shows the whole history. Raises ``ConfigurationItem.DoesNotExist``."""
    ci = ci_list().get(pk=ci_id)
    outgoing = Relationship.objects.filter(source=ci).select_related("target")
    incoming = Relationship.objects.filter(target=ci).select_related("source")
    lines = [
        RelationshipLine(r, r.get_kind_display(), r.target, outgoing=True) for r in outgoing
    ] + [RelationshipLine(r, r.inverse_label, r.source, outgoing=False) for r in incoming]
    lines.sort(key=lambda line: (not line.outgoing, line.label, line.other.identifier))
    installed = list(
        InstalledSoftware.objects.filter(ci=ci)
        .select_related("product", "version", "licence", "recorded_by")
        .order_by("product__name", "-installed_at", "-id")
    )
    records = ci.history.select_related("history_user").order_by("-history_date", "-history_id")
    if history_limit is not None:
        records = records[: history_limit + 1]
    records = list(records)
    history_more = history_limit is not None and len(records) > history_limit
    older = records[history_limit] if history_more else None
    errors = Discrepancy.objects.filter(ci=ci).select_related("licence", "resolved_by")
    return CIDetail(
        ci=ci,
        attributes=sorted(ci.attributes.items()),
        relationships=lines,
        current_software=[row for row in installed if row.removed_at is None],
        previous_software=[row for row in installed if row.removed_at is not None],
        history=ci_history(records[:history_limit] if history_more else records, older=older),
        history_more=history_more,
        open_errors=list(errors.filter(resolved_at__isnull=True)),
        closed_errors=list(errors.filter(resolved_at__isnull=False)[:CLOSED_ERRORS_ON_PAGE]),
    )


# Relationships and installed software.


def relationship_list(queryset: QuerySet | None = None) -> QuerySet:
    queryset = Relationship.objects.all() if queryset is None else queryset
    return queryset.select_related("source", "target")


def installed_software_list(queryset: QuerySet | None = None) -> QuerySet:
    queryset = InstalledSoftware.objects.all() if queryset is None else queryset
    return queryset.select_related("ci", "product", "version", "licence", "recorded_by")


def licence_installations(licence: Licence) -> QuerySet:
    """The current installations consuming ``licence``, with their CI and version."""
    return installed_software_list(
        InstalledSoftware.objects.filter(licence=licence, removed_at__isnull=True)
    ).order_by("ci__identifier", "product__name")


# Errors.


def discrepancy_list(queryset: QuerySet | None = None) -> QuerySet:
    queryset = Discrepancy.objects.all() if queryset is None else queryset
    return queryset.select_related("ci", "licence", "software_version__product", "resolved_by")


def discrepancy_open_counts() -> dict[str, int]:
    """Open errors per category, every category present (one aggregate query)."""
    rows = (
        Discrepancy.objects.filter(resolved_at__isnull=True)
        .order_by()
        .values("category")
        .annotate(n=Count("id"))
    )
    counts = {category: 0 for category in ErrorCategory.values}
    counts.update({row["category"]: row["n"] for row in rows})
    return counts
