"""The verification engine behind ``verify`` — a Configuration Management activity and the last
step before distribution. It checks that what is to be released matches the plan, the CMDB and
the licences, records every check, and turns every mismatch into a CMDB or licence error.

A fixed number of queries whatever the number of targets: installed software, licence usage and
reservations are read in bulk, and the errors are written in bulk."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from cmdb.choices import CIStatus, ErrorKind, ErrorSource, LicenceMetric
from cmdb.models import Discrepancy, InstalledSoftware, Licence
from cmdb.selectors import licence_is_valid_on, licences_with_usage
from cmdb.services.discrepancies import discrepancies_sync
from dsl_dhs.choices import CheckResult, ReservationStatus, VersionStatus
from dsl_dhs.models import Reservation
from dsl_dhs.services import software_version_verify
from releasemgmt.core.exceptions import DomainConflict
from releases.choices import ItemKind
from releases.models import Release, VerificationCheck, VerificationRun

VERIFICATION_KINDS = (
    ErrorKind.UNAUTHORISED_SOFTWARE,
    ErrorKind.RETIRED_TARGET,
    ErrorKind.VERSION_MISMATCH,
    ErrorKind.SEATS_EXCEEDED,
    ErrorKind.LICENCE_EXPIRED,
    ErrorKind.LICENCE_MISSING,
    ErrorKind.MISSING_TARGET,
    ErrorKind.HARDWARE_NOT_RESERVED,
)


@dataclass
class Findings:
    checks: list[VerificationCheck] = field(default_factory=list)
    # fingerprint -> Discrepancy fields, for every failed check
    errors: dict[str, dict] = field(default_factory=dict)

    def ok(self, kind: str, subject: str, expected: str = "", found: str = "") -> None:
        self.checks.append(
            VerificationCheck(
                kind=kind, subject=subject[:200], ok=True, expected=expected, found=found
            )
        )

    def fail(
        self,
        kind: str,
        error_kind: str,
        subject: str,
        *,
        expected: str,
        found: str,
        fingerprint: str,
        **objects,
    ) -> None:
        check = VerificationCheck(
            kind=kind, subject=subject[:200], ok=False, expected=expected, found=found
        )
        check.fingerprint = fingerprint  # linked to its error record once that is written
        self.checks.append(check)
        self.errors[fingerprint] = {
            "kind": error_kind,
            "subject": subject,
            "expected": expected,
            "found": found,
            **objects,
        }


def _check_items(release: Release, findings: Findings, items) -> None:
    """Every software item is an authorised DSL version whose stored artefact matches its checksum."""
    for item in items:
        version = item.software_version
        if version.status != VersionStatus.AUTHORISED:
            findings.fail(
                "dsl_version",
                ErrorKind.UNAUTHORISED_SOFTWARE,
                str(version),
                expected="an authorised DSL version",
                found=version.get_status_display().lower(),
                fingerprint=f"verification:{release.number}:version={version.pk}:status",
                software_version=version,
            )
            continue
        try:
            check = software_version_verify(version=version)
        except DomainConflict as error:
            check, detail = None, error.message
        else:
            detail = check.detail
        if check is None or check.result != CheckResult.OK:
            findings.fail(
                "dsl_checksum",
                ErrorKind.UNAUTHORISED_SOFTWARE,
                str(version),
                expected=f"artefact with SHA-256 {version.sha256 or '(none recorded)'}",
                found=detail or "no artefact",
                fingerprint=f"verification:{release.number}:version={version.pk}:checksum",
                software_version=version,
            )
        else:
            findings.ok(
                "dsl_checksum", str(version), expected=version.sha256, found=check.found_sha256
            )


def _check_targets(release: Release, findings: Findings, targets, items) -> None:
    """Every target exists and is active, and carries the version the plan expects to replace."""
    software = [item for item in items if item.replaces_version_id]
    product_ids = [item.software_version.product_id for item in software]
    installed = defaultdict(dict)  # ci_id -> product_id -> version
    for row in InstalledSoftware.objects.filter(
        ci_id__in=[t.ci_id for t in targets], product_id__in=product_ids, removed_at__isnull=True
    ).select_related("version"):
        installed[row.ci_id][row.product_id] = row.version
    for target in targets:
        ci = target.ci
        if ci.status != CIStatus.ACTIVE:
            findings.fail(
                "target_active",
                ErrorKind.RETIRED_TARGET,
                str(ci),
                expected="an active configuration item",
                found=f"status {ci.get_status_display().lower()}",
                fingerprint=f"verification:{release.number}:ci={ci.pk}:status",
                ci=ci,
            )
            continue
        findings.ok("target_active", str(ci), expected="active", found="active")
        for item in software:
            version = item.software_version
            current = installed[ci.pk].get(version.product_id)
            if current is not None and current.pk == item.replaces_version_id:
                findings.ok(
                    "from_version",
                    f"{version.product} on {ci}",
                    expected=item.replaces_version.version,
                    found=current.version,
                )
                continue
            findings.fail(
                "from_version",
                ErrorKind.VERSION_MISMATCH,
                f"{version.product} on {ci}",
                expected=f"{item.replaces_version} installed (the version this release replaces)",
                found=f"{current} installed" if current else "not installed",
                fingerprint=f"verification:{release.number}:ci={ci.pk}:product={version.product_id}",
                ci=ci,
                software_version=current,
            )


def _check_licences(release: Release, findings: Findings, targets, items) -> None:
    """Licences cover every new installation: a valid licence with free seats. Upgrades keep the
    seat they hold; a per-device licence already used by the CI costs nothing more."""
    today = timezone.localdate()
    licensed = [item for item in items if item.software_version.product.licence_product_id]
    if not licensed:
        return
    ci_ids = [t.ci_id for t in targets]
    holding = defaultdict(set)  # licence_product_id -> ci ids already holding a seat of it
    for ci_id, lp_id in InstalledSoftware.objects.filter(
        ci_id__in=ci_ids,
        removed_at__isnull=True,
        licence__isnull=False,
        licence__licence_product_id__in=[
            i.software_version.product.licence_product_id for i in licensed
        ],
    ).values_list("ci_id", "licence__licence_product_id"):
        holding[lp_id].add(ci_id)
    usage = defaultdict(list)
    for licence in licences_with_usage(
        Licence.objects.filter(
            licence_product_id__in=[i.software_version.product.licence_product_id for i in licensed]
        )
    ):
        usage[licence.licence_product_id].append(licence)
    for item in licensed:
        product = item.software_version.product
        lp = product.licence_product
        needed = len(set(ci_ids) - holding[lp.pk])
        valid = [lic for lic in usage[lp.pk] if licence_is_valid_on(lic, today)]
        if not usage[lp.pk]:
            findings.fail(
                "licence",
                ErrorKind.LICENCE_MISSING,
                f"{lp} for {release.number}",
                expected=f"a licence of {lp} for {needed} new installation(s)",
                found="no licence in the CMDB",
                fingerprint=f"verification:{release.number}:licence_product={lp.pk}:missing",
            )
            continue
        if not valid:
            findings.fail(
                "licence",
                ErrorKind.LICENCE_EXPIRED,
                f"{lp} for {release.number}",
                expected=f"a valid licence of {lp}",
                found="every licence has expired or has not started",
                fingerprint=f"verification:{release.number}:licence_product={lp.pk}:expired",
                licence=usage[lp.pk][0],
            )
            continue
        if any(lic.metric == LicenceMetric.SITE for lic in valid):
            findings.ok("licence", f"{lp}", expected=f"{needed} seat(s)", found="site licence")
            continue
        free = sum(max(lic.seats - lic.seats_in_use, 0) for lic in valid)
        if needed > free:
            findings.fail(
                "licence",
                ErrorKind.SEATS_EXCEEDED,
                f"{lp} for {release.number}",
                expected=f"{needed} free seat(s) for the new installations",
                found=f"{free} free",
                fingerprint=f"verification:{release.number}:licence_product={lp.pk}:seats",
                licence=valid[0],
            )
        else:
            findings.ok("licence", str(lp), expected=f"{needed} free seat(s)", found=f"{free} free")


def _check_hardware(release: Release, findings: Findings, hardware) -> None:
    """Hardware items are reserved in the DHS under the release's number."""
    reserved = Counter()
    for model_id, quantity in Reservation.objects.filter(
        reference=release.number, status=ReservationStatus.RESERVED
    ).values_list("stock__hardware_model_id", "quantity"):
        reserved[model_id] += quantity
    for item in hardware:
        if reserved[item.hardware_model_id] >= item.quantity:
            findings.ok(
                "hardware_reserved",
                str(item),
                expected=f"{item.quantity} reserved",
                found=f"{reserved[item.hardware_model_id]} reserved",
            )
        else:
            findings.fail(
                "hardware_reserved",
                ErrorKind.HARDWARE_NOT_RESERVED,
                f"{item.hardware_model} for {release.number}",
                expected=f"{item.quantity} unit(s) reserved in the DHS under {release.number}",
                found=f"{reserved[item.hardware_model_id]} reserved",
                fingerprint=f"verification:{release.number}:hardware={item.hardware_model_id}",
            )


def run_verification(release: Release, *, by) -> VerificationRun:
    """Run every check for ``release`` and record the run, its checks and the errors found."""
    items = list(
        release.items.select_related(
            "software_version__product__licence_product", "replaces_version", "hardware_model"
        )
    )
    software = [item for item in items if item.kind == ItemKind.SOFTWARE]
    targets = list(release.targets.select_related("ci"))
    findings = Findings()
    _check_items(release, findings, software)
    _check_targets(release, findings, targets, software)
    _check_licences(release, findings, targets, software)
    _check_hardware(release, findings, [item for item in items if item.kind == ItemKind.HARDWARE])
    discrepancies_sync(
        findings={
            fp: {**fields, "reference": release.number} for fp, fields in findings.errors.items()
        },
        source=ErrorSource.VERIFICATION,
        kinds=VERIFICATION_KINDS,
        resolution=f"No longer found when {release.number} was verified again.",
        reference=release.number,
    )
    failed = [check for check in findings.checks if not check.ok]
    # each failed check names the error record it opened (or found open already): one query
    records = dict(
        Discrepancy.objects.filter(
            resolved_at__isnull=True, fingerprint__in=[check.fingerprint for check in failed]
        ).values_list("fingerprint", "pk")
    )
    for check in failed:
        check.discrepancy_id = records.get(check.fingerprint)
    run = VerificationRun.objects.create(
        release=release,
        by=by if getattr(by, "is_authenticated", False) else None,
        passed=not failed,
        checks_total=len(findings.checks),
        checks_failed=len(failed),
    )
    for check in findings.checks:
        check.run = run
    VerificationCheck.objects.bulk_create(findings.checks, batch_size=1000)
    return run
