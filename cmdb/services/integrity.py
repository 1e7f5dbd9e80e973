"""The CMDB integrity check: what the CMDB says that cannot be right, found by aggregate or
filtered queries (the cost follows the number of problems, not the size of the estate), kept in
step with the error records, and the licence seat alerts moved."""

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from cmdb.choices import HARDWARE_KINDS, CIStatus, ErrorKind, ErrorSource, RelationshipKind
from cmdb.models import ConfigurationItem, InstalledSoftware, Licence, Relationship
from cmdb.selectors import licences_with_usage
from cmdb.services.discrepancies import discrepancies_sync, fingerprint_licence_missing
from cmdb.services.licences import licence_alerts_update
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import SoftwareVersion
from releasemgmt.core.services import audit_record

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
    alerts = licence_alerts_update(usage, notify=notify)
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
