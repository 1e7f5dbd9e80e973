"""Settings: the embedded default, production hardening and clear errors for bad values.

Each case runs Django in a subprocess with a controlled environment, as a real start would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "x7!kQ2@pL9#vR4$mN8%tB3^wZ6&yH1*cF5(gJ0)dS-eU+aW=iO_" * 1


def run(code_or_args, tmp_path, **env_vars):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RELEASEMGMT_VAR_DIR": str(tmp_path / "var"),
        **env_vars,
    }
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE']); print(s.CELERY_BROKER_URL); "
    "print(s.CACHES['default']['BACKEND']); print(s.DEBUG); print(s.SESSION_COOKIE_AGE)"
)


def test_embedded_default_needs_no_environment(tmp_path):
    result = run(PRINT_SETTINGS, tmp_path, DJANGO_SETTINGS_MODULE="releasemgmt.settings.base")
    assert result.returncode == 0, result.stderr
    engine, broker, cache, debug, session_age = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    assert cache.endswith("LocMemCache")
    assert debug == "False"
    assert session_age == "1800"
    # dev generates a secret key into var/ once and reuses it
    key_file = tmp_path / "var" / "secret_key"
    first = key_file.read_text()
    assert len(first) >= 50
    run(PRINT_SETTINGS, tmp_path, DJANGO_SETTINGS_MODULE="releasemgmt.settings.base")
    assert key_file.read_text() == first


def test_postgres_and_redis_from_urls(tmp_path):
    result = run(
        PRINT_SETTINGS,
        tmp_path,
        DJANGO_SETTINGS_MODULE="releasemgmt.settings.base",
        DATABASE_URL="postgres://u:p@db.example:5432/rm",
        REDIS_URL="redis://cache.example:6379/0",
        DJANGO_SESSION_IDLE_MINUTES="10",
    )
    assert result.returncode == 0, result.stderr
    engine, broker, cache, _debug, session_age = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert broker == "redis://cache.example:6379/0"
    assert cache.endswith("RedisCache")
    assert session_age == "600"


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "releasemgmt.settings.production",
    "DJANGO_SECRET_KEY": SECRET,
    "DJANGO_ALLOWED_HOSTS": "releases.example.com",
    "DATABASE_URL": "postgres://u:p@db.example:5432/rm",
    "REDIS_URL": "redis://cache.example:6379/0",
}


def test_production_passes_the_deploy_check(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **PRODUCTION
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY"),
        ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS"),
        ("REDIS_URL", "REDIS_URL"),
    ],
)
def test_production_refuses_to_start_without(tmp_path, missing, named):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run(["manage.py", "check"], tmp_path, **env)
    assert result.returncode != 0
    assert named in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_refuses_sqlite(tmp_path):
    result = run(
        ["manage.py", "check"], tmp_path, **{**PRODUCTION, "DATABASE_URL": "sqlite:///x.db"}
    )
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("DJANGO_DEBUG", "maybe", "true/false"),
        ("DATABASE_URL", "mysql://u@h/db", "postgres://"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("REDIS_URL", "http://cache", "redis://"),
        ("DJANGO_SESSION_IDLE_MINUTES", "soon", "whole number"),
        ("DJANGO_LOG_LEVEL", "LOUD", "one of"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(tmp_path, variable, value, hint):
    result = run(
        ["manage.py", "check"],
        tmp_path,
        DJANGO_SETTINGS_MODULE="releasemgmt.settings.base",
        **{variable: value},
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert variable in last_line
    assert hint in last_line


def test_seed_demo_refuses_production(tmp_path):
    result = run(["manage.py", "seed_demo"], tmp_path, **PRODUCTION)
    assert result.returncode != 0
    assert "refuses to run under the production settings" in result.stderr
