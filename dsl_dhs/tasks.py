"""Celery entry points of the DSL and DHS: thin, idempotent."""

import logging

from celery import shared_task
from django.db.models import F

from dsl_dhs import services
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import SoftwareVersion
from releasemgmt.core.exceptions import DomainError

logger = logging.getLogger(__name__)

# Versions checked per run. Beat runs the task hourly, so the oldest checks come round first and
# a large library is covered over several runs without one run outliving its expiry.
VERIFY_BATCH = 200


@shared_task(name="dsl_dhs.tasks.verify_artefacts", ignore_result=True)
def verify_artefacts(limit: int = VERIFY_BATCH) -> dict:
    """Periodic (beat, hourly): recompute the checksums of up to ``limit`` versions that have an
    artefact and are not retired, least recently checked (never checked first). Each version is
    its own transaction (``software_version_verify``): a mismatch or missing file quarantines it.
    Idempotent: a repeat run only records fresh checks. Returns the count per result."""
    ids = list(
        SoftwareVersion.objects.exclude(artefact="")
        .exclude(status=VersionStatus.RETIRED)
        .order_by(F("last_checked_at").asc(nulls_first=True), "id")
        .values_list("id", flat=True)[:limit]
    )
    counts: dict[str, int] = {}
    for version_id in ids:
        version = SoftwareVersion.objects.filter(pk=version_id).first()
        if version is None:  # deleted since the batch was chosen
            continue
        try:
            check = services.software_version_verify(version=version)
        except DomainError as error:  # replaced meanwhile: the next run checks the new file
            logger.info("Skipped verifying version %s: %s", version_id, error.message)
            counts["skipped"] = counts.get("skipped", 0) + 1
            continue
        except Exception:  # one broken storage object must not stop the batch
            logger.exception("Verifying version %s failed", version_id)
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        counts[check.result] = counts.get(check.result, 0) + 1
        if check.result != "ok":
            logger.warning("Artefact check of %s: %s — %s", version, check.result, check.detail)
    return counts
