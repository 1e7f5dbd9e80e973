"""The test suite's settings: ``base`` plus fast hashing and tasks run inline.

Set ``DATABASE_URL``/``REDIS_URL`` to run the same suite against PostgreSQL and Redis."""

import os
import tempfile
from pathlib import Path

from releasemgmt.settings.base import *  # noqa: F403
from releasemgmt.settings.base import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so real worker and beat processes started by tests share it; one per
    # test run, so two runs at once never delete each other's database.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"releasemgmt-test-{os.getpid()}.sqlite3")
    }
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "10000/min", "user": "100000/min"}
AXES_FAILURE_LIMIT = 5
# Artefacts written by tests go to a throwaway folder, never into var/media.
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="releasemgmt-test-media-"))
