"""Errors in the CMDB and the licences (discrepancies): recorded once per open problem (its
fingerprint) by a check, an import or a deployment report, reported by a person, kept in step in
bulk by a check that sees the whole estate, and resolved with a note."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from cmdb.choices import ERROR_KIND_CATEGORY, ErrorSource
from cmdb.models import Discrepancy
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.services import audit_record


def fingerprint_licence_missing(*, ci_id: int, product_id: int) -> str:
    return f"licence_missing:ci={ci_id}:product={product_id}"


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
