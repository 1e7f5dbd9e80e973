"""Installed software: record that a version is now installed on a CI (the previous version of the
product kept as history, a licence seat allocated or a ``licence_missing`` error recorded), and
record a removal."""

from django.db import transaction
from django.utils import timezone

from cmdb.choices import InstallSource
from cmdb.models import ConfigurationItem, InstalledSoftware, Licence
from cmdb.services.discrepancies import discrepancy_record, fingerprint_licence_missing
from cmdb.services.licences import licence_allocate
from releasemgmt.core.exceptions import DomainValidationError
from releasemgmt.core.services import audit_record


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
