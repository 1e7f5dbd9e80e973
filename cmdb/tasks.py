"""Celery entry points of the CMDB: thin, JSON arguments, idempotent."""

from celery import shared_task

from cmdb.services import integrity, licences


@shared_task(name="cmdb.tasks.integrity_check", ignore_result=True)
def cmdb_integrity_check_task() -> dict:
    """Periodic (beat, hourly): run the CMDB integrity check. A repeat run records nothing new."""
    return integrity.cmdb_integrity_check()


@shared_task(
    name="cmdb.tasks.licence_alerts_notify",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=5,
)
def licence_alerts_notify_task(*, alerts: list[dict]) -> int:
    """After the integrity check's commit: e-mail the licence seat alerts it raised (a mail
    server that refuses is retried with back-off)."""
    return licences.licence_alerts_notify(alerts=alerts)
