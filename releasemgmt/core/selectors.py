"""Reads of the platform: the health report and the audit trail."""

from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from releasemgmt.core.choices import Component
from releasemgmt.core.models import Heartbeat

OK = "ok"


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return f"unreachable: {type(error).__name__}"
    return OK


def _check_broker() -> str:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            if conn.transport_cls == "filesystem":
                for folder in ("data_folder_in", "data_folder_out"):
                    path = conn.transport_options.get(folder)
                    if not path:
                        return f"misconfigured: {folder} is not set"
                    if not Path(path).is_dir():
                        return "unreachable: broker folder is missing"
    except Exception as error:
        return f"unreachable: {type(error).__name__}"
    return OK


def _check_heartbeats() -> dict[str, str]:
    try:
        seen = dict(Heartbeat.objects.values_list("component", "last_seen"))
    except Exception:
        return {
            Component.WORKER: "unknown: database unreachable",
            Component.BEAT: "unknown: database unreachable",
        }
    now = timezone.now()
    results = {}
    for component in (Component.WORKER, Component.BEAT):
        last_seen = seen.get(component)
        if last_seen is None:
            results[component] = "no heartbeat yet: is it running?"
            continue
        age = (now - last_seen).total_seconds()
        if age > settings.HEARTBEAT_MAX_AGE_SECONDS:
            results[component] = f"stale: last heartbeat {int(age)} s ago"
        else:
            results[component] = OK
    return results


def health_report() -> tuple[bool, dict]:
    """Every check's result (``"ok"`` or a short reason). Reveals no versions, hosts or secrets."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    checks.update({str(k): v for k, v in _check_heartbeats().items()})
    healthy = all(value == OK for value in checks.values())
    return healthy, {"status": OK if healthy else "unhealthy", "checks": checks}
