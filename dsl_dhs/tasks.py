"""Celery entry points of the DSL and DHS: thin, idempotent."""

from celery import shared_task

from dsl_dhs import services


@shared_task(name="dsl_dhs.tasks.verify_artefacts", ignore_result=True)
def software_versions_verify_task(limit: int = services.VERIFY_BATCH) -> dict:
    """Periodic (beat, hourly): recompute the checksums of the least recently checked artefacts
    (``software_versions_verify``); a mismatch or a missing file quarantines the version."""
    return services.software_versions_verify(limit=limit)
