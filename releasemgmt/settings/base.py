"""Settings for every environment, read from the environment variables documented in
``.env.example`` and the README. With nothing set this is the embedded default: SQLite and a
filesystem Celery broker under ``var/``, a local-memory cache, DEBUG off."""

from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab

from releasemgmt.settings import env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env.string("RELEASEMGMT_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Development generates a key into var/ once; production (which re-reads it) never does.
_PRODUCTION = env.string("DJANGO_SETTINGS_MODULE", "").endswith(".production")
SECRET_KEY = env.secret_key(
    "DJANGO_SECRET_KEY", fallback_file=None if _PRODUCTION else VAR_DIR / "secret_key"
)
DEBUG = env.boolean("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.listing("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.listing("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",  # the widget templates, for the project's FORM_RENDERER
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_fsm",
    "axes",
    "simple_history",
    "releasemgmt.core",
    "releasemgmt.accounts",
    "dsl_dhs",
    "cmdb",
    "releases",
    "kpis",
]

# Widgets and fields rendered with the project's templates; one field template for every form.
FORM_RENDERER = "releasemgmt.core.forms.FormRenderer"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Page-only middleware is skipped for API calls with their own credentials (core.middleware).
    "releasemgmt.core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "releasemgmt.core.middleware.AuthenticationMiddleware",
    "releasemgmt.core.middleware.LoginRequiredMiddleware",
    "releasemgmt.accounts.middleware.UserTimezoneMiddleware",
    "releasemgmt.core.middleware.MessageMiddleware",
    "releasemgmt.core.middleware.HtmxMiddleware",  # request.htmx
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "releasemgmt.urls"
WSGI_APPLICATION = "releasemgmt.wsgi.application"
ASGI_APPLICATION = "releasemgmt.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "releasemgmt.core.context_processors.navigation",
            ],
            # {{ moment|when }}: the one date format of every page.
            "builtins": ["releasemgmt.core.templatetags.when"],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names PostgreSQL.
DATABASES = {
    "default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'releasemgmt.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share one file: WAL lets readers run beside the writer, IMMEDIATE
    # takes the write lock at BEGIN so two writers queue instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.integer("DJANGO_CONN_MAX_AGE", 60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server, and a statement the connection has run five times
    # prepared: PostgreSQL stops parsing and planning a list's query on every request. A
    # statement with parameters (a search, a filter) is still planned for its values each time
    # (force_custom_plan): a plan made for any value can walk a whole index for a rare one. Off
    # for a pooler in transaction mode (PgBouncer), which cannot keep prepared statements.
    if env.boolean("DJANGO_DB_PREPARED_STATEMENTS", True):
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.update(server_side_binding=True, prepare_threshold=5)
        options["options"] = f"{options.get('options', '')} -c plan_cache_mode=force_custom_plan"
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USING_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

REDIS_URL = env.redis_url("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "releasemgmt.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "releasemgmt",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "releasemgmt.accounts.backends.PermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboards:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Sessions end after this much idle time: the cookie is renewed on every request.
SESSION_IDLE_MINUTES = env.integer("DJANGO_SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Lock-out after repeated failed logins (django-axes): per username + source address.
AXES_FAILURE_LIMIT = env.integer("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_VERBOSE = False

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.string("DJANGO_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# DSL artefacts larger than this are refused with 413.
DSL_MAX_ARTEFACT_BYTES = env.integer("DSL_MAX_ARTEFACT_MB", 2048, minimum=1) * 1024 * 1024
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = env.string("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.string("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env.string("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.string("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.boolean("DJANGO_EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.string("DJANGO_DEFAULT_FROM_EMAIL", "releasemgmt@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds an SMTP connection may block (a hung mail server must not hold a worker).
EMAIL_TIMEOUT = env.integer("DJANGO_EMAIL_TIMEOUT", 10, minimum=1)

# The address people open the site at: links in e-mails and chat alerts start with it.
SITE_URL = env.url("DJANGO_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Back-out alerts also go to this chat webhook (Slack/Teams incoming webhook: {"text": …}); empty: off.
BACKOUT_ALERT_WEBHOOK_URL = env.url("BACKOUT_ALERT_WEBHOOK_URL", "")
# Seconds an outbound HTTP call (chat alert) may take.
OUTBOUND_TIMEOUT_SECONDS = env.integer("OUTBOUND_TIMEOUT_SECONDS", 10, minimum=1)
# Outbound calls refuse loopback, private, link-local and reserved addresses unless this is on.
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.boolean("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=False)

# REST API: deny by default; reads need the model's view permission, writes its add/change/delete.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "releasemgmt.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["releasemgmt.core.api.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "releasemgmt.core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "releasemgmt.core.filtersets.FilterBackend",
        "releasemgmt.core.api.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "releasemgmt.core.api.throttling.AnonRateThrottle",
        "releasemgmt.core.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.string("API_THROTTLE_ANON", "120/min"),
        "user": env.string("API_THROTTLE_USER", "6000/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "releasemgmt.core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "releasemgmt.core.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
API_PREFIX = "/api/"
# DRF authenticates these itself (bearer tokens too) and answers anonymous callers 401 JSON.
API_AUTHENTICATES_ITSELF_PREFIXES = ("/api/v1/", "/api/schema/")
# Paths a visitor may reach without signing in; everything else requires authentication.
LOGIN_NOT_REQUIRED_PREFIXES = ("/healthz", "/static/", "/api/v1/webhooks/")

SPECTACULAR_SETTINGS = {
    "TITLE": "releasemgmt API",
    "DESCRIPTION": (
        "IT Release Management: releases and their enforced state machine, CMDB, DSL and DHS, "
        "deployment reports from agents, signed change-management webhooks and the process KPIs. "
        "Authenticate with `Authorization: Bearer <token>` (see your account page) or a session."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets used by several fields get one stable name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ReleaseStateEnum": "releases.choices.ReleaseState",
        "InstallSourceEnum": "cmdb.choices.InstallSource",
        "ErrorSourceEnum": "cmdb.choices.ErrorSource",
        "CIStatusEnum": "cmdb.choices.CIStatus",
        "VersionStatusEnum": "dsl_dhs.choices.VersionStatus",
        "ReservationStatusEnum": "dsl_dhs.choices.ReservationStatus",
        "WebhookDeliveryStatusEnum": "releases.webhooks.models.DeliveryStatus",
        "OutcomeEnum": "releases.choices.Outcome",
        "ReviewOutcomeEnum": "releases.choices.ReviewOutcome",
    },
    # Swagger UI from the installed sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: the embedded default is kombu's filesystem transport under var/ (no server needed).
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
BROKER_DIR = VAR_DIR / "broker"
if not REDIS_URL:
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# One queue per deployment; tests and side-by-side deployments sharing a broker pick their own.
CELERY_TASK_DEFAULT_QUEUE = env.string("CELERY_DEFAULT_QUEUE", "celery")
# Status callbacks wait on other systems: named here, their sends go to a queue of their own that
# a worker of their own consumes (`celery -A releasemgmt worker -Q <name>`), so a slow receiver
# never takes the slots the pickers and the watchdog run in. Empty: they share the default queue.
CELERY_CALLBACK_QUEUE = env.string("CELERY_CALLBACK_QUEUE", "")
CELERY_TASK_ROUTES = (
    {"releases.tasks.send_callback": {"queue": CELERY_CALLBACK_QUEUE}}
    if CELERY_CALLBACK_QUEUE
    else {}
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "releasemgmt.core.beat:HeartbeatDatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "releases-dispatch-due-installations": {
        "task": "releases.tasks.dispatch_due_installations",
        "schedule": float(env.integer("INSTALLATION_PICK_SECONDS", 15, minimum=1)),
        "options": {"expires": 30},
    },
    "releases-webhook-sweeper": {
        "task": "releases.tasks.sweep_webhook_deliveries",
        "schedule": float(env.integer("WEBHOOK_SWEEP_SECONDS", 60, minimum=1)),
        "options": {"expires": 120},
    },
    "releases-dispatch-due-callbacks": {
        "task": "releases.tasks.dispatch_due_callbacks",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    "releases-watchdog": {
        "task": "releases.tasks.watchdog",
        "schedule": float(env.integer("WATCHDOG_SECONDS", 30, minimum=1)),
        "options": {"expires": 60},
    },
    "dsl-verify-artefacts": {
        "task": "dsl_dhs.tasks.verify_artefacts",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
    "cmdb-integrity-check": {
        "task": "cmdb.tasks.integrity_check",
        "schedule": crontab(minute=47),
        "options": {"expires": 3000},
    },
    "kpis-rollup": {
        "task": "kpis.tasks.kpi_rollup",
        "schedule": float(env.integer("KPI_ROLLUP_SECONDS", 300, minimum=10)),
        "options": {"expires": 600},
    },
}

# /metrics (Prometheus text format): a scraper presents METRICS_TOKEN as a bearer token, or
# scrapes from an address in METRICS_ALLOWED_IPS (addresses or networks). Neither set: 401.
METRICS_TOKEN = env.string("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env.listing("METRICS_ALLOWED_IPS", [])

# Inbound webhooks: signing secrets are Fernet-encrypted at rest when this key is set (generate
# with `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`).
WEBHOOK_SECRET_KEY = env.string("WEBHOOK_SECRET_KEY", "")
# A delivery still "received" this long after arrival is processed by the sweeper.
WEBHOOK_SWEEP_AFTER_SECONDS = env.integer("WEBHOOK_SWEEP_AFTER_SECONDS", 30, minimum=1)

# Health: worker and beat heartbeats older than this make /healthz answer 503.
HEARTBEAT_INTERVAL_SECONDS = env.integer("HEARTBEAT_INTERVAL_SECONDS", 15, minimum=1)
HEARTBEAT_MAX_AGE_SECONDS = env.integer("HEARTBEAT_MAX_AGE_SECONDS", 90, minimum=5)

# Dashboards: an installing release with no target report for this long is shown as stuck.
DASHBOARD_STUCK_MINUTES = env.integer("DASHBOARD_STUCK_MINUTES", 60, minimum=1)

LOG_LEVEL = env.choice(
    "DJANGO_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

DEMO_PASSWORD = env.string("DEMO_PASSWORD", "demo")
IS_PRODUCTION = False
