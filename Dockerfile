# One image for web (gunicorn), worker and beat (celery); docker-compose.yml picks the command.
# Configuration comes from the environment at run time (see .env.example); nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    RELEASEMGMT_VAR_DIR=/app/var \
    DJANGO_SETTINGS_MODULE=releasemgmt.settings.production

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Runtime dependencies first, exactly as locked (every file's hash checked), so editing the code
# reuses this layer. `make lock` refreshes requirements/runtime.txt; CI installs it the same way.
COPY requirements/runtime.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY . .

# The project installs no packages of its own (`packages = []`, it runs from /app): only its
# metadata, with nothing resolved beyond the lock.
RUN pip install --no-deps . && rm -rf build *.egg-info

# Production storage is CompressedManifestStaticFilesStorage: the manifest must exist in the image.
# The settings refuse to load without a secret, hosts, PostgreSQL and Redis, so this one command gets
# throwaway values (nothing is contacted); they are not ENV, so the image never carries them.
# Only media is writable by the app user; code and collected static files stay root-owned.
RUN DJANGO_SECRET_KEY=build-only-throwaway-key-for-collectstatic-never-used-at-runtime \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=postgres://build:build@build.invalid:5432/build \
    REDIS_URL=redis://build.invalid:6379/0 \
    python manage.py collectstatic --no-input \
    && mkdir -p /app/var/media \
    && chown app:app /app/var/media

USER app

EXPOSE 8000

# Shell form via sh -c so WEB_CONCURRENCY expands at start; exec makes gunicorn PID 1 (gets SIGTERM).
CMD ["sh", "-c", "exec gunicorn releasemgmt.wsgi:application --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --worker-tmp-dir /dev/shm --access-logfile -"]
