"""Celery entry points of the CMDB: thin, JSON arguments, idempotent."""

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from cmdb import services
from releasemgmt.accounts.roles import CONFIGURATION_MANAGER


@shared_task(name="cmdb.tasks.integrity_check", ignore_result=True)
def integrity_check() -> dict:
    """Periodic (beat, hourly): run the CMDB integrity check. A repeat run records nothing new."""
    return services.cmdb_integrity_check()


@shared_task(
    name="cmdb.tasks.licence_alerts_notify",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=5,
)
def licence_alerts_notify(*, alerts: list[dict]) -> int:
    """Email the configuration managers the licence seat alerts just raised (figures as they were
    when raised). Sent after the check's commit; returns the number of recipients."""
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
