"""The one place that reads the environment.

Every reader names the variable in its error, so a bad value stops start-up with a message a person
can act on instead of a traceback deep inside Django.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_NOT_SET = object()


def raw(name: str, default=_NOT_SET) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is _NOT_SET:
            raise ImproperlyConfigured(f"Set the environment variable {name}.")
        return default
    return value


def string(name: str, default=_NOT_SET) -> str:
    return raw(name, default)


def boolean(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of true/false, yes/no, on/off, 1/0 — got {value!r}."
    )


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number — got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} — got {number}.")
    return number


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)} — got {value!r}.")
    return value


def listing(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def url(name: str, default: str) -> str:
    """An http(s) URL, or ``""`` when empty (a default of ``""`` means "off")."""
    value = os.environ.get(name, default).strip()
    if value and not value.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL — got {value!r}.")
    return value


def database(name: str, default: str) -> dict:
    value = os.environ.get(name, default)
    try:
        config = environ.Env.db_url_config(value)
    except Exception as error:
        raise ImproperlyConfigured(f"{name} is not a usable database URL: {error}") from None
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.sqlite3", "django.db.backends.postgresql"}:
        raise ImproperlyConfigured(
            f"{name} must be a postgres:// or sqlite:// URL — got scheme {value.split(':', 1)[0]!r}."
        )
    return config


def redis_url(name: str) -> str | None:
    value = os.environ.get(name)
    if not value:
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"{name} must be a redis:// or rediss:// URL — got {value!r}.")
    return value


def secret_key(name: str, fallback_file: Path | None) -> str:
    """The secret key from ``name``; without it, one generated once into ``fallback_file``
    (development only — production passes ``None`` and refuses to start)."""
    value = os.environ.get(name)
    if value:
        return value
    if fallback_file is None:
        raise ImproperlyConfigured(
            f"Set {name}: production refuses to start without a secret key "
            "(50+ random characters, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
        )
    if not fallback_file.exists():
        fallback_file.parent.mkdir(parents=True, exist_ok=True)
        fallback_file.write_text(get_random_secret_key())
        fallback_file.chmod(0o600)
    return fallback_file.read_text().strip()
