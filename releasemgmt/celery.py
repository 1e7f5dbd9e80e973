"""The Celery application: configured from Django settings (``CELERY_*``), tasks discovered in
every installed app. Start a worker with ``celery -A releasemgmt worker`` and beat with
``celery -A releasemgmt beat`` (the scheduler is set in settings)."""

import os

from celery import Celery, bootsteps
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "releasemgmt.settings.base")

app = Celery("releasemgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes the worker's heartbeat from the worker's own timer, so /healthz can tell a live
    worker from a dead one without depending on beat."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker):
        # The models load once Django is set up, which Celery's Django fix-up does after this
        # module is imported.
        from releasemgmt.core.services import heartbeat_record

        def beat():
            heartbeat_record(component="worker", detail=worker.hostname)

        beat()
        self.timer_entry = worker.timer.call_repeatedly(settings.HEARTBEAT_INTERVAL_SECONDS, beat)

    def stop(self, worker):
        if self.timer_entry is not None:
            self.timer_entry.cancel()


app.steps["worker"].add(WorkerHeartbeat)
