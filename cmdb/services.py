"""Writes of the CMDB: configuration items, relationships, installed software, licences and
discrepancies. Each service is one transaction with its audit event."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from cmdb.attributes import validate_attributes
from cmdb.choices import (
    ERROR_KIND_CATEGORY,
    InstallSource,
    LicenceMetric,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from cmdb.selectors import licence_is_valid_on, licences_with_usage
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.services import audit_record, record_save


def _clean_attributes(ci: ConfigurationItem) -> None:
    cleaned, errors = validate_attributes(ci.kind, ci.attributes)
    if errors:
        raise DomainValidationError(
            {f"attributes.{name}": message for name, message in errors.items()}
        )
    ci.attributes = cleaned


@transaction.atomic
def ci_create(*, by, **fields) -> ConfigurationItem:
    """Create a configuration item; attributes are validated against its kind's schema."""
    ci = ConfigurationItem(**fields)
    _clean_attributes(ci)
    ci._history_user = by if getattr(by, "is_authenticated", False) else None
    return record_save(instance=ci, actor=by)


@transaction.atomic
def ci_update(*, ci: ConfigurationItem, by, reason: str = "", **fields) -> ConfigurationItem:
    """Change a configuration item's fields (under a row lock); history and audit record who."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    for name, value in fields.items():
        setattr(ci, name, value)
    _clean_attributes(ci)
    ci._history_user = by if getattr(by, "is_authenticated", False) else None
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
    """Relate two CIs. Refuses a self link and a cycle of ``part_of``."""
    if source.pk == target.pk:
        raise DomainValidationError({"target": "A configuration item cannot be related to itself."})
    if kind == RelationshipKind.PART_OF and source.pk in _part_of_ancestors(target.pk):
        raise DomainValidationError(
            {
                "target": f"{target} is already (indirectly) part of {source}: this would make a cycle."
            }
        )
    relationship = Relationship(source=source, target=target, kind=kind)
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
    ConfigurationItem.objects.select_for_update().filter(pk=ci.pk).first()  # serialise per CI
    current = InstalledSoftware.objects.filter(
        ci=ci, product_id=version.product_id, removed_at__isnull=True
    ).first()
    if current is not None and current.version_id == version.pk:
        return current
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
            fingerprint=f"licence_missing:ci={ci.pk}:product={version.product_id}",
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
