"""Writes of accounts: API tokens, calendar feed tokens and profile settings. Each is one transaction with its audit event."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from releasemgmt.accounts.models import (
    ApiToken,
    FeedToken,
    User,
    hash_token,
    new_raw_feed_token,
    new_raw_token,
)
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.services import audit_record

MAX_TOKEN_DAYS = 3650


def api_token_issue(
    *,
    user: User,
    name: str,
    expires_days: int | None = None,
    by: User | None = None,
    ci_scope: str = "",
) -> tuple[ApiToken, str]:
    """Create a token for ``user`` and return it with the raw value, which is never stored and
    cannot be shown again. ``by`` is who asked (the user, an admin, or None for the CLI)."""
    if by is not None and not by.has_perm("accounts.add_apitoken"):
        raise DomainPermissionDenied("Your roles do not allow creating API tokens.")
    name = (name or "").strip()
    if not name:
        raise DomainValidationError({"name": "Give the token a name (e.g. the tool that uses it)."})
    if len(name) > 100:
        raise DomainValidationError({"name": "Use at most 100 characters."})
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise DomainValidationError(
            {"expires_days": f"Choose between 1 and {MAX_TOKEN_DAYS} days."}
        )
    raw = new_raw_token()
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                digest=hash_token(raw),
                hint=raw[:10],
                expires_at=expires_at,
                ci_scope=ci_scope.strip(),
            )
            audit_record(
                actor=by,
                action="api_token.issue",
                target=token,
                after={
                    "user": user.get_username(),
                    "name": name,
                    "expires_at": expires_at and expires_at.isoformat(),
                },
            )
    except IntegrityError:
        owner = "You already have" if by == user else f"{user.get_username()} already has"
        raise DomainConflict(
            f"{owner} an active token named {name!r}: revoke it or pick another name."
        ) from None
    return token, raw


def api_token_revoke(*, token: ApiToken, by: User | None) -> ApiToken:
    """Revoke ``token`` (idempotent). A person may revoke their own tokens; staff anyone's."""
    if by is not None and by != token.user and not by.has_perm("accounts.change_apitoken"):
        raise DomainPermissionDenied("You can only revoke your own tokens.")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(actor=by, action="api_token.revoke", target=token)
    return token


def feed_token_issue(*, user: User, by: User | None) -> tuple[FeedToken, str]:
    """Give ``user`` a new calendar feed token and return it with the raw value (never stored,
    shown once). An active token is revoked in the same transaction, so the old address stops
    working at once (renewal). One transaction, audited like API tokens. The caller checks that
    the user may read what the feed shows."""
    if by is not None and by != user and not by.has_perm("accounts.change_feedtoken"):
        raise DomainPermissionDenied("You can only create your own calendar feed address.")
    raw = new_raw_feed_token()
    try:
        with transaction.atomic():
            _feed_tokens_revoke(user=user, by=by)
            token = FeedToken.objects.create(user=user, digest=hash_token(raw), hint=raw[:10])
            audit_record(
                actor=by,
                action="feed_token.issue",
                target=token,
                after={"user": user.get_username(), "hint": token.hint},
            )
    except IntegrityError:
        # Two renewals at the same moment: the other one won.
        raise DomainConflict(
            "A calendar feed address was created at the same moment: reload the page."
        ) from None
    return token, raw


def feed_token_revoke(*, user: User, by: User | None) -> int:
    """Revoke ``user``'s calendar feed token (idempotent): its address answers 404 from now on.
    Returns how many were revoked (0 or 1)."""
    if by is not None and by != user and not by.has_perm("accounts.change_feedtoken"):
        raise DomainPermissionDenied("You can only revoke your own calendar feed address.")
    with transaction.atomic():
        return _feed_tokens_revoke(user=user, by=by)


def _feed_tokens_revoke(*, user: User, by: User | None) -> int:
    active = list(FeedToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True))
    now = timezone.now()
    for token in active:
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
        audit_record(actor=by, action="feed_token.revoke", target=token)
    return len(active)


def user_update_preferences(*, user: User, time_zone: str) -> User:
    """Change the user's display time zone."""
    with transaction.atomic():
        before = {"time_zone": user.time_zone}
        user.time_zone = time_zone
        user.full_clean(validate_unique=False, exclude=["password"])
        user.save(update_fields=["time_zone"])
        audit_record(
            actor=user,
            action="user.preferences",
            target=user,
            before=before,
            after={"time_zone": time_zone},
        )
    return user
