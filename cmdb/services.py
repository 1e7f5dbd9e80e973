"""Writes of the CMDB: configuration items, relationships, installed software, licences and
discrepancies. Each service is one transaction with its audit event."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from cmdb.attributes import validate_attributes
from cmdb.choices import (
    ERROR_KIND_CATEGORY,
    HARDWARE_KINDS,
    CIStatus,
    ErrorKind,
    ErrorSource,
    InstallSource,
    LicenceMetric,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from cmdb.selectors import licence_is_valid_on, licences_with_usage
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import SoftwareVersion
from releasemgmt.accounts.roles import CONFIGURATION_MANAGER
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.models import AuditEvent
from releasemgmt.core.queue import delay_on_commit
from releasemgmt.core.services import (
    SYSTEM_ACTOR,
    audit_record,
    person_or_none,
    record_delete,
    record_save,
)


def _clean_attributes(ci: ConfigurationItem) -> None:
    cleaned, errors = validate_attributes(ci.kind, ci.attributes)
    if errors:
        raise DomainValidationError(
            {f"attributes.{name}": message for name, message in errors.items()}
        )
    ci.attributes = cleaned


def _check_identifier_unique(ci: ConfigurationItem) -> None:
    # The database constraint is case-insensitive; say so with the field named, before it fires.
    clash = ConfigurationItem.objects.filter(identifier__iexact=ci.identifier.strip())
    if ci.pk:
        clash = clash.exclude(pk=ci.pk)
    existing = clash.values_list("identifier", flat=True).first()
    if existing is not None:
        raise DomainValidationError(
            {
                "identifier": f"A configuration item with this identifier exists already "
                f"(“{existing}”; identifiers are compared without regard to case)."
            }
        )


@transaction.atomic
def ci_create(*, by, **fields) -> ConfigurationItem:
    """Create a configuration item; attributes are validated against its kind's schema."""
    ci = ConfigurationItem(**fields)
    ci.identifier = (ci.identifier or "").strip()
    _clean_attributes(ci)
    _check_identifier_unique(ci)
    ci._history_user = person_or_none(by)
    return record_save(instance=ci, actor=by)


@transaction.atomic
def ci_update(*, ci: ConfigurationItem, by, reason: str = "", **fields) -> ConfigurationItem:
    """Change a configuration item's fields (under a row lock); history and audit record who."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    for name, value in fields.items():
        setattr(ci, name, value)
    ci.identifier = (ci.identifier or "").strip()
    _clean_attributes(ci)
    _check_identifier_unique(ci)
    ci._history_user = person_or_none(by)
    if reason:
        ci._change_reason = reason[:100]
    return record_save(instance=ci, actor=by, reason=reason)


def _part_of_ancestors(ci_id: int) -> set[int]:
    """Every CI that ``ci_id`` is (transitively) part of — one query per level."""
    seen: set[int] = set()
    frontier = {ci_id}
    while frontier:
        parents = set(
            Relationship.objects.filter(
                kind=RelationshipKind.PART_OF, source_id__in=frontier
            ).values_list("target_id", flat=True)
        )
        frontier = parents - seen
        seen |= parents
    return seen


@transaction.atomic
def relationship_create(
    *, source: ConfigurationItem, target: ConfigurationItem, kind: str, by
) -> Relationship:
    """Relate two CIs. Refuses a self link and a cycle of ``part_of`` (400, naming ``target``)
    and a relationship that exists already (409)."""
    if source.pk == target.pk:
        raise DomainValidationError({"target": "A configuration item cannot be related to itself."})
    if kind == RelationshipKind.PART_OF and source.pk in _part_of_ancestors(target.pk):
        raise DomainValidationError(
            {
                "target": f"{target} is already (indirectly) part of {source}: this would make a cycle."
            }
        )
    relationship = Relationship(source=source, target=target, kind=kind)
    if Relationship.objects.filter(source=source, target=target, kind=kind).exists():
        raise DomainConflict(f"{relationship} exists already.")
    relationship._history_user = person_or_none(by)
    try:
        with transaction.atomic():
            return record_save(instance=relationship, actor=by)
    except IntegrityError:
        raise DomainConflict(f"{relationship} exists already.") from None


def licence_allocate(*, version, ci: ConfigurationItem, day=None) -> Licence | None:
    """The licence a new installation of ``version`` on ``ci`` should consume: a valid licence of
    the product's licence product with a free seat (a per-device licence the CI already uses
    costs nothing more). Locks the chosen licence row so two allocations cannot take the last
    seat. None when the product needs no licence or none has room."""
    licence_product_id = version.product.licence_product_id
    if licence_product_id is None:
        return None
    day = day or timezone.localdate()
    candidates = list(
        licences_with_usage(Licence.objects.filter(licence_product_id=licence_product_id)).order_by(
            "valid_until", "pk"
        )
    )
    for licence in candidates:
        if not licence_is_valid_on(licence, day):
            continue
        locked = Licence.objects.select_for_update().get(pk=licence.pk)
        fresh = licences_with_usage(Licence.objects.filter(pk=locked.pk)).get()
        if fresh.metric == LicenceMetric.SITE:
            return locked
        already_counted = (
            fresh.metric != LicenceMetric.PER_SEAT
            and InstalledSoftware.objects.filter(
                licence=locked, ci=ci, removed_at__isnull=True
            ).exists()
        )
        if already_counted or fresh.seats_in_use < fresh.seats:
            return locked
    return None


@transaction.atomic
def installed_software_record(
    *,
    ci: ConfigurationItem,
    version,
    by,
    source: str = InstallSource.MANUAL,
    source_reference: str = "",
    licence: Licence | None = None,
    installed_at=None,
    allocate_licence: bool = True,
) -> InstalledSoftware:
    """Record that ``version`` is now installed on ``ci``. The CI's current version of the same
    product (if any) is closed (``removed_at``) and stays as history — the baseline a back-out
    restores. Without an explicit licence, one with a free seat is allocated; none free → the
    installation is recorded without one and a ``licence_missing`` error is raised as a record."""
    now = installed_at or timezone.now()
    if licence is not None and licence.licence_product_id != version.product.licence_product_id:
        raise DomainValidationError(
            {
                "licence": f"{licence} is a licence of {licence.licence_product}; "
                f"{version.product} needs "
                f"{version.product.licence_product or 'no licence'}."
            }
        )
    ConfigurationItem.objects.select_for_update().filter(pk=ci.pk).first()  # serialise per CI
    current = InstalledSoftware.objects.filter(
        ci=ci, product_id=version.product_id, removed_at__isnull=True
    ).first()
    if current is not None and current.version_id == version.pk:
        return current
    if current is not None and now < current.installed_at:
        raise DomainValidationError(
            {
                "installed_at": f"{current.version} was installed on {ci} at "
                f"{current.installed_at:%Y-%m-%d %H:%M} UTC; a later version cannot be "
                "installed before that."
            }
        )
    if current is not None:
        current.removed_at = now
        current.save(update_fields=["removed_at"])
        if licence is None and current.licence_id is not None:
            licence = current.licence  # an upgrade keeps its seat
    if licence is None and allocate_licence:
        licence = licence_allocate(version=version, ci=ci)
    row = InstalledSoftware.objects.create(
        ci=ci,
        product_id=version.product_id,
        version=version,
        licence=licence,
        installed_at=now,
        source=source,
        source_reference=source_reference,
        recorded_by=by if getattr(by, "is_authenticated", False) else None,
    )
    audit_record(
        actor=by,
        action="cmdb.installedsoftware.record",
        target=ci,
        before={"version": str(current.version)} if current else None,
        after={
            "version": str(version),
            "licence": str(licence) if licence else None,
            "source": source,
        },
    )
    if licence is None and version.product.licence_product_id is not None:
        discrepancy_record(
            kind="licence_missing",
            source="import" if source == InstallSource.IMPORT else "integrity_check",
            subject=f"{version} on {ci}",
            expected=f"a free seat of {version.product.licence_product}",
            found="no valid licence with a free seat",
            ci=ci,
            software_version=version,
            reference=source_reference,
            fingerprint=fingerprint_licence_missing(ci_id=ci.pk, product_id=version.product_id),
        )
    return row


@transaction.atomic
def installed_software_remove(
    *, installation: InstalledSoftware, by, removed_at=None
) -> InstalledSoftware:
    """Record the removal of an installation (kept as history; its seat is freed)."""
    installation = InstalledSoftware.objects.select_for_update().get(pk=installation.pk)
    if installation.removed_at is None:
        installation.removed_at = removed_at or timezone.now()
        installation.save(update_fields=["removed_at"])
        audit_record(
            actor=by,
            action="cmdb.installedsoftware.remove",
            target=installation.ci,
            before={"version": str(installation.version)},
        )
    return installation


def discrepancy_record(
    *,
    kind: str,
    source: str,
    subject: str,
    expected: str = "",
    found: str = "",
    ci=None,
    licence=None,
    software_version=None,
    reference: str = "",
    fingerprint: str | None = None,
) -> tuple[Discrepancy, bool]:
    """Record a CMDB or licence error unless the same problem (``fingerprint``) is already open.
    Returns ``(record, created)``. Runs inside the caller's transaction."""
    fingerprint = fingerprint or f"{kind}:{subject}"[:255]
    existing = Discrepancy.objects.filter(fingerprint=fingerprint, resolved_at__isnull=True).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            record = Discrepancy.objects.create(
                category=ERROR_KIND_CATEGORY[kind],
                kind=kind,
                source=source,
                subject=subject[:200],
                expected=expected,
                found=found,
                ci=ci,
                licence=licence,
                software_version=software_version,
                reference=reference,
                fingerprint=fingerprint,
                detected_at=timezone.now(),
            )
    except IntegrityError:  # recorded at the same moment by another process
        return Discrepancy.objects.get(fingerprint=fingerprint, resolved_at__isnull=True), False
    return record, True


@transaction.atomic
def discrepancy_resolve(*, discrepancy: Discrepancy, by, resolution: str) -> Discrepancy:
    """Close an open error with a note saying what was done."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise DomainValidationError({"resolution": "Say what was done to resolve it."})
    discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
    if discrepancy.resolved_at is not None:
        raise DomainConflict(
            f"This error was already resolved on {discrepancy.resolved_at:%Y-%m-%d %H:%M} UTC."
        )
    discrepancy.resolved_at = timezone.now()
    discrepancy.resolved_by = by if getattr(by, "is_authenticated", False) else None
    discrepancy.resolution = resolution
    discrepancy.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    audit_record(actor=by, action="cmdb.discrepancy.resolve", target=discrepancy, reason=resolution)
    return discrepancy


# Configuration items: retire and delete.


@transaction.atomic
def ci_retire(*, ci: ConfigurationItem, by, reason: str) -> ConfigurationItem:
    """Set a CI's status to retired (under a row lock), with the reason in its history and the
    audit log. Relationships and current installations are left as they are: the integrity check
    flags them (broken_relationship, retired_target) so someone decides what happens to them."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainValidationError({"reason": "Say why the configuration item is retired."})
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    if ci.status == CIStatus.RETIRED:
        raise DomainConflict(f"{ci} is already retired.")
    ci.status = CIStatus.RETIRED
    ci._history_user = person_or_none(by)
    ci._change_reason = reason[:100]
    return record_save(instance=ci, actor=by, action="cmdb.configurationitem.retire", reason=reason)


@transaction.atomic
def ci_delete(*, ci: ConfigurationItem, by, reason: str = "") -> None:
    """Delete a CI that never carried software (a mistaken entry). A CI with installed-software
    records (current or past) is part of a baseline a back-out may need: retire it instead."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    if InstalledSoftware.objects.filter(ci=ci).exists():
        raise DomainConflict(
            f"{ci} has installed-software records (the baseline a back-out restores); "
            "retire it instead of deleting it."
        )
    ci._history_user = person_or_none(by)
    record_delete(instance=ci, actor=by, reason=reason)


@transaction.atomic
def relationship_delete(*, relationship: Relationship, by, reason: str = "") -> None:
    """Remove a relationship; its history and an audit event keep what it was."""
    relationship = Relationship.objects.select_related("source", "target").get(pk=relationship.pk)
    relationship._history_user = person_or_none(by)
    record_delete(instance=relationship, actor=by, reason=reason)


# Licences. Seats in use are never stored: they are counted from installations.


def _check_licence(licence: Licence) -> None:
    errors = {}
    if licence.metric != LicenceMetric.SITE and licence.seats is None:
        errors["seats"] = "Give the number of seats (only site licences have none)."
    if licence.metric == LicenceMetric.SITE and licence.seats is not None:
        licence.seats = None  # a site licence has no seat count to run out of
    if licence.valid_from and licence.valid_until and licence.valid_until < licence.valid_from:
        errors["valid_until"] = "The licence cannot end before it starts."
    if errors:
        raise DomainValidationError(errors)


@transaction.atomic
def licence_create(*, by, **fields) -> Licence:
    """Create a licence for a licence product (seats required unless it is a site licence)."""
    licence = Licence(**fields)
    _check_licence(licence)
    licence._history_user = person_or_none(by)
    return record_save(instance=licence, actor=by)


@transaction.atomic
def licence_update(*, licence: Licence, by, reason: str = "", **fields) -> Licence:
    """Change a licence's terms under a row lock. Lowering the seats below those in use is
    allowed (contracts shrink); the integrity check then reports the over-use."""
    licence = Licence.objects.select_for_update().get(pk=licence.pk)
    for name, value in fields.items():
        setattr(licence, name, value)
    _check_licence(licence)
    licence._history_user = person_or_none(by)
    return record_save(instance=licence, actor=by, reason=reason)


@transaction.atomic
def licence_delete(*, licence: Licence, by, reason: str = "") -> None:
    """Delete a licence no installation has ever consumed (otherwise 409: it is history)."""
    licence._history_user = person_or_none(by)
    record_delete(instance=licence, actor=by, reason=reason)


# Errors reported by a person.


@transaction.atomic
def discrepancy_report(
    *,
    by,
    kind: str,
    subject: str,
    expected: str = "",
    found: str = "",
    ci=None,
    licence=None,
    software_version=None,
    reference: str = "",
) -> Discrepancy:
    """Record a CMDB or licence error noticed by a person (source ``manual``). The same problem
    already open (same kind, object and subject) is a 409 naming the open record."""
    subject = (subject or "").strip()
    if not subject:
        raise DomainValidationError({"subject": "Say what the error is about."})
    if kind not in ERROR_KIND_CATEGORY:
        raise DomainValidationError({"kind": f"Unknown kind {kind!r}."})
    fingerprint = (
        f"manual:{kind}:ci={ci.pk if ci else '-'}:licence={licence.pk if licence else '-'}:"
        f"{subject.lower()}"
    )[:255]
    record, created = discrepancy_record(
        kind=kind,
        source=ErrorSource.MANUAL,
        subject=subject,
        expected=expected,
        found=found,
        ci=ci,
        licence=licence,
        software_version=software_version,
        reference=reference,
        fingerprint=fingerprint,
    )
    if not created:
        raise DomainConflict(
            f"This error is already recorded and open (#{record.pk}).", extra={"id": record.pk}
        )
    audit_record(actor=by, action="cmdb.discrepancy.report", target=record, after={"kind": kind})
    return record


# The integrity check.

RESOLVED_BY_CHECK = "No longer found by the integrity check."
CHECKED_KINDS = (
    ErrorKind.SEATS_EXCEEDED,
    ErrorKind.LICENCE_EXPIRED,
    ErrorKind.LICENCE_MISSING,
    ErrorKind.BROKEN_RELATIONSHIP,
    ErrorKind.RETIRED_TARGET,
    ErrorKind.DUPLICATE_IDENTITY,
    ErrorKind.UNAUTHORISED_SOFTWARE,
)
# Licence seat alerts are states kept in the audit log: the latest of these per licence.
ALERT_OVER = "cmdb.licence.seats_over"
ALERT_LOW = "cmdb.licence.seats_low"
ALERT_CLEARED = "cmdb.licence.seats_ok"


def fingerprint_licence_missing(*, ci_id: int, product_id: int) -> str:
    return f"licence_missing:ci={ci_id}:product={product_id}"


def _findings_licences(today) -> tuple[dict[str, dict], list]:
    """seats_exceeded and licence_expired, plus the usage rows the alerts need (one query each)."""
    findings = {}
    usage = list(licences_with_usage())
    for licence in usage:
        if licence.is_over:
            findings[f"seats_exceeded:licence={licence.pk}"] = {
                "kind": ErrorKind.SEATS_EXCEEDED,
                "subject": str(licence),
                "expected": f"at most {licence.seats} seats in use",
                "found": f"{licence.seats_in_use} seats in use",
                "licence_id": licence.pk,
            }
    expired = (
        Licence.objects.filter(valid_until__lt=today)
        .annotate(active=Count("installations", filter=Q(installations__removed_at__isnull=True)))
        .filter(active__gt=0)
        .values("pk", "name", "valid_until", "active")
    )
    for row in expired:
        findings[f"licence_expired:licence={row['pk']}"] = {
            "kind": ErrorKind.LICENCE_EXPIRED,
            "subject": row["name"],
            "expected": "no current installation on an expired licence",
            "found": f"expired on {row['valid_until']:%Y-%m-%d}, "
            f"still consumed by {row['active']} installation(s)",
            "licence_id": row["pk"],
        }
    return findings, usage


def _findings_installations() -> dict[str, dict]:
    """licence_missing, retired_target and unauthorised_software: filtered in SQL, so only the
    installations that have the problem come back, never the whole estate."""
    findings = {}
    current = InstalledSoftware.objects.filter(removed_at__isnull=True)
    missing = current.filter(
        licence__isnull=True, product__licence_product__isnull=False
    ).values_list(
        "ci_id",
        "ci__identifier",
        "product_id",
        "version_id",
        "product__name",
        "version__version",
        "product__licence_product__name",
    )
    for ci_id, identifier, product_id, version_id, product, version, licence_product in missing:
        findings[fingerprint_licence_missing(ci_id=ci_id, product_id=product_id)] = {
            "kind": ErrorKind.LICENCE_MISSING,
            "subject": f"{product} {version} on {identifier}",
            "expected": f"a licence of {licence_product}",
            "found": "installed without a licence",
            "ci_id": ci_id,
            "software_version_id": version_id,
        }
    retired = (
        current.filter(ci__status=CIStatus.RETIRED)
        .values("ci_id", "ci__identifier")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in retired:
        findings[f"retired_target:ci={row['ci_id']}"] = {
            "kind": ErrorKind.RETIRED_TARGET,
            "subject": row["ci__identifier"],
            "expected": "no current software on a retired configuration item",
            "found": f"retired, yet {row['n']} installation(s) recorded as current",
            "ci_id": row["ci_id"],
        }
    # The versions that are not authorised are few: start from them, through the version index.
    not_authorised = SoftwareVersion.objects.exclude(status=VersionStatus.AUTHORISED).values("pk")
    unauthorised = current.filter(version__in=not_authorised).values_list(
        "ci_id",
        "ci__identifier",
        "version_id",
        "product__name",
        "version__version",
        "version__status",
    )
    for ci_id, identifier, version_id, product, version, status in unauthorised:
        findings[f"unauthorised_software:ci={ci_id}:version={version_id}"] = {
            "kind": ErrorKind.UNAUTHORISED_SOFTWARE,
            "subject": f"{product} {version} on {identifier}",
            "expected": "an authorised version from the DSL",
            "found": f"version is {VersionStatus(status).label.lower()} in the DSL",
            "ci_id": ci_id,
            "software_version_id": version_id,
        }
    return findings


def _findings_items() -> dict[str, dict]:
    """broken_relationship and duplicate_identity."""
    findings = {}
    retired = CIStatus.RETIRED
    broken = Relationship.objects.filter(
        Q(source__status=retired) | Q(target__status=retired)
    ).values_list(
        "pk",
        "kind",
        "source_id",
        "source__identifier",
        "source__status",
        "target_id",
        "target__identifier",
        "target__status",
    )
    for pk, kind, source_id, source, source_status, target_id, target, target_status in broken:
        dead = [
            name
            for name, status in ((source, source_status), (target, target_status))
            if status == retired
        ]
        # Shown on the live end: it is the one whose dependency is broken.
        ci_id = target_id if source_status == retired and target_status != retired else source_id
        findings[f"broken_relationship:relationship={pk}"] = {
            "kind": ErrorKind.BROKEN_RELATIONSHIP,
            "subject": f"{source} {RelationshipKind(kind).label} {target}",
            "expected": "both ends in service",
            "found": f"{' and '.join(dead)} {'is' if len(dead) == 1 else 'are'} retired",
            "ci_id": ci_id,
        }
    serial = Lower(Trim(KeyTextTransform("serial_number", "attributes")))
    hardware = (
        ConfigurationItem.objects.filter(kind__in=HARDWARE_KINDS)
        .exclude(status=CIStatus.RETIRED)
        .annotate(serial=serial)
        .exclude(serial__isnull=True)
        .exclude(serial="")
    )
    # Two steps, not one self-join: the shared values are few, and a join on the computed
    # serial makes PostgreSQL misjudge the row count badly (and JIT-compile the plan).
    duplicated = list(
        hardware.order_by()
        .values("serial")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("serial", flat=True)
    )
    sharing: dict[str, list] = {}
    shown: dict[str, str] = {}
    rows = []
    for start in range(0, len(duplicated), 2000):  # bounded IN lists (SQLite's variable limit)
        rows += hardware.filter(serial__in=duplicated[start : start + 2000]).values_list(
            "pk", "identifier", "serial", Trim(KeyTextTransform("serial_number", "attributes"))
        )
    rows.sort(key=lambda row: row[1])
    for ci_id, identifier, value, raw in rows:
        sharing.setdefault(value, []).append((ci_id, identifier))
        shown.setdefault(value, raw)
    for value, items in sharing.items():
        findings[f"duplicate_identity:serial={value}"[:255]] = {
            "kind": ErrorKind.DUPLICATE_IDENTITY,
            "subject": f"serial number {shown[value]}",
            "expected": "one configuration item per serial number",
            "found": f"shared by {', '.join(identifier for _, identifier in items)}",
            "ci_id": items[0][0],
        }
    return findings


def discrepancies_sync(
    *, findings: dict[str, dict], source: str, kinds, resolution: str, reference: str | None = None
) -> tuple[list[Discrepancy], int]:
    """The bulk form of :func:`discrepancy_record` for a check that sees the whole estate at once:
    record every finding (``fingerprint → fields``) not already open, and resolve the open records
    of this ``source`` and these ``kinds`` that the check no longer finds (``resolved_by`` None).
    A few queries whatever the number of findings (open records are as many as the problems,
    not as the estate). Returns the new records and the number resolved. Runs in the caller's
    transaction."""
    now = timezone.now()
    open_records = Discrepancy.objects.filter(resolved_at__isnull=True)
    already_open = set(open_records.values_list("fingerprint", flat=True))
    new = [
        Discrepancy(
            category=ERROR_KIND_CATEGORY[fields["kind"]],
            source=source,
            fingerprint=fingerprint,
            detected_at=now,
            **{**fields, "subject": fields["subject"][:200]},
        )
        for fingerprint, fields in findings.items()
        if fingerprint not in already_open
    ]
    # ignore_conflicts: a record opened by another process meanwhile wins, no duplicate is made.
    Discrepancy.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
    # A check of one release (``reference``) resolves only what it found before for that release.
    checked = open_records.filter(source=source, kind__in=list(kinds))
    if reference is not None:
        checked = checked.filter(reference=reference)
    stale_ids = [
        pk
        for pk, fingerprint in checked.values_list("pk", "fingerprint")
        if fingerprint not in findings
    ]
    for start in range(0, len(stale_ids), 500):
        Discrepancy.objects.filter(pk__in=stale_ids[start : start + 500]).update(
            resolved_at=now, resolved_by=None, resolution=resolution, updated_at=now
        )
    return new, len(stale_ids)


def _alert_states(licence_ids) -> dict[int, str]:
    """The latest seat-alert action per licence, from the audit log (one query)."""
    events = (
        AuditEvent.objects.filter(
            content_type=ContentType.objects.get_for_model(Licence),
            action__in=[ALERT_OVER, ALERT_LOW, ALERT_CLEARED],
        )
        .order_by("object_id", "occurred_at", "id")
        .values_list("object_id", "action")
    )
    states = {}
    for object_id, action in events:
        states[int(object_id)] = action  # later events overwrite earlier ones
    return {pk: states.get(pk, ALERT_CLEARED) for pk in licence_ids}


def _licence_alerts(usage, *, notify: bool) -> list[dict]:
    """Move each licence's seat alert to its current state, recorded in the audit log; a newly
    raised alert is emailed once (after commit) to the configuration managers. Site and expired
    licences raise none (an expired licence in use is an error record instead)."""
    states = _alert_states([licence.pk for licence in usage])
    content_type = ContentType.objects.get_for_model(Licence)
    events, raised = [], []
    for licence in usage:
        if licence.metric == LicenceMetric.SITE or licence.is_expired:
            wanted = ALERT_CLEARED
        elif licence.is_over:
            wanted = ALERT_OVER
        elif licence.is_low:
            wanted = ALERT_LOW
        else:
            wanted = ALERT_CLEARED
        if states[licence.pk] == wanted:
            continue
        figures = {
            "seats": licence.seats,
            "in_use": licence.seats_in_use,
            "free": licence.seats_free,
            "threshold": licence.low_seat_threshold,
        }
        # What audit_record writes for the system, inserted in bulk: a first run over a large
        # estate can move hundreds of licences at once.
        events.append(
            AuditEvent(
                actor_name=SYSTEM_ACTOR,
                action=wanted,
                content_type=content_type,
                object_id=str(licence.pk),
                object_repr=str(licence)[:200],
                after=figures,
            )
        )
        if wanted != ALERT_CLEARED:
            raised.append(
                {"id": licence.pk, "name": str(licence), "over": wanted == ALERT_OVER, **figures}
            )
    AuditEvent.objects.bulk_create(events, batch_size=500)
    if raised and notify:
        delay_on_commit(
            "cmdb.tasks.licence_alerts_notify",
            alerts=raised,
            if_lost="the licence alerts are not e-mailed; the audit log records them.",
            level=logging.ERROR,
        )
    return raised


def licence_alerts_notify(*, alerts: list[dict]) -> int:
    """E-mail the configuration managers the licence seat alerts just raised (figures as they were
    when raised). Runs in a worker after the integrity check's commit, outside any transaction;
    returns the number of recipients (none, or no alerts: nothing is sent)."""
    recipients = sorted(
        set(
            get_user_model()
            .objects.filter(groups__name=CONFIGURATION_MANAGER, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients or not alerts:
        return 0
    over = [alert for alert in alerts if alert["over"]]
    subject = (
        f"Licence alert: {len(over)} over-used, {len(alerts) - len(over)} running low"
        if over
        else f"Licence alert: {len(alerts)} licence(s) running low on seats"
    )
    lines = ["These licences need attention:", ""]
    for alert in alerts:
        state = "OVER-USED" if alert["over"] else "low on seats"
        lines.append(
            f"- {alert['name']} ({state}): {alert['seats']} seats, {alert['in_use']} in use, "
            f"{alert['free']} free (alert at {alert['threshold']} free or fewer)"
        )
    lines += ["", "Licences: /cmdb/licences/", "— releasemgmt"]
    send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    return len(recipients)


@transaction.atomic
def cmdb_integrity_check(*, notify: bool = True) -> dict:
    """Look at the whole CMDB for what it says that cannot be right, and keep the error records in
    step: licences over-used or expired but in use, installations lacking a licence, on retired
    CIs or of versions that are not authorised, relationships to retired CIs, hardware sharing a
    serial number. New problems are recorded (source ``integrity_check``, one open record per
    fingerprint), records of problems no longer found are resolved, and licence seat alerts newly
    raised are emailed to the configuration managers after commit (``notify``).

    Every finding is computed by an aggregate or filtered query, so the cost follows the number of
    problems, not the size of the estate. One transaction; safe to run again at any time."""
    today = timezone.localdate()
    licence_findings, usage = _findings_licences(today)
    findings = {**licence_findings, **_findings_installations(), **_findings_items()}
    new, resolved = discrepancies_sync(
        findings=findings,
        source=ErrorSource.INTEGRITY_CHECK,
        kinds=CHECKED_KINDS,
        resolution=RESOLVED_BY_CHECK,
    )
    alerts = _licence_alerts(usage, notify=notify)
    summary = {
        "found": len(findings),
        "new": len(new),
        "resolved": resolved,
        "alerts": len(alerts),
        "by_kind": {
            kind: sum(1 for fields in findings.values() if fields["kind"] == kind)
            for kind in CHECKED_KINDS
        },
    }
    if new or resolved:
        audit_record(action="cmdb.integrity_check", after=summary)
    return summary
