"""Signing secrets at rest: Fernet-encrypted when ``WEBHOOK_SECRET_KEY`` is set, so a database dump
does not reveal them; stored as given otherwise (the embedded default)."""

import base64
import secrets as pysecrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from releasemgmt.core.exceptions import DomainValidationError

PREFIX = "whsec_"
_ENCRYPTED = "fernet:"


def secret_generate() -> str:
    """A new ``whsec_`` secret: 32 random bytes, base64."""
    return PREFIX + base64.b64encode(pysecrets.token_bytes(32)).decode()


def secret_check(secret: str) -> str:
    """The secret if it is a usable ``whsec_<base64>`` value (at least 24 bytes), else 400."""
    secret = (secret or "").strip()
    if not secret.startswith(PREFIX):
        raise DomainValidationError({"secret": f"A signing secret starts with {PREFIX!r}."})
    try:
        raw = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except ValueError:
        raise DomainValidationError(
            {"secret": f"After {PREFIX!r} a signing secret is base64."}
        ) from None
    if len(raw) < 24:
        raise DomainValidationError({"secret": "A signing secret needs at least 24 random bytes."})
    return secret


def _fernet() -> Fernet | None:
    key = settings.WEBHOOK_SECRET_KEY
    if not key:
        return None
    try:
        return Fernet(key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            "WEBHOOK_SECRET_KEY must be a Fernet key: 32 url-safe base64-encoded bytes."
        ) from None


def secret_seal(secret: str) -> str:
    """The value to store for ``secret``."""
    fernet = _fernet()
    if fernet is None:
        return secret
    return _ENCRYPTED + fernet.encrypt(secret.encode()).decode()


def secret_open(stored: str) -> str | None:
    """The secret behind a stored value; None when it was sealed with a key we no longer have."""
    if not stored.startswith(_ENCRYPTED):
        return stored
    fernet = _fernet()
    if fernet is None:
        return None
    try:
        return fernet.decrypt(stored[len(_ENCRYPTED) :].encode()).decode()
    except InvalidToken:
        return None
