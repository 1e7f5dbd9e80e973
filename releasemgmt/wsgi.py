import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "releasemgmt.settings.base")
application = get_wsgi_application()

# The task modules load with the process, not inside the first request that enqueues work.
from releasemgmt.core.queue import tasks_load  # noqa: E402

tasks_load()
