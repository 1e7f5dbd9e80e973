"""The beat scheduler: django-celery-beat's database scheduler that also records beat's heartbeat
on every tick, so /healthz knows beat's loop is alive."""

import time

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from releasemgmt.core.choices import Component
from releasemgmt.core.services import heartbeat_record


class HeartbeatDatabaseScheduler(DatabaseScheduler):
    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now - self._last_heartbeat >= settings.HEARTBEAT_INTERVAL_SECONDS:
            heartbeat_record(component=Component.BEAT, detail="celery beat")
            self._last_heartbeat = now
        interval = super().tick(*args, **kwargs)
        # Never sleep past the next heartbeat, however far away the next task is.
        return min(interval, settings.HEARTBEAT_INTERVAL_SECONDS)
