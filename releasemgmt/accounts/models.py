import hashlib
import secrets
import uuid
import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from releasemgmt.accounts.roles import Action, actions_for

TIME_ZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones())]


class User(AbstractUser):
    """A person or an integration service account. Times are shown in ``time_zone``."""

    time_zone = models.CharField(max_length=64, choices=TIME_ZONE_CHOICES, default="UTC")
    is_service_account = models.BooleanField(
        default=False,
        help_text="An integration (change-management system, deployment tool, agent) rather than a person.",
    )
    permissions_stamp = models.UUIDField(
        default=uuid.uuid4,
        editable=False,
        help_text="Renewed whenever the user's permissions may have changed (roles, grants).",
    )
    history = HistoricalRecords(excluded_fields=["password", "last_login", "permissions_stamp"])

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def role_names(self) -> list[str]:
        """Sorted; read once per user and permission stamp (no query on repeat), or from a
        prefetch of ``groups`` when there is one."""
        prefetched = getattr(self, "_prefetched_objects_cache", {}).get("groups")
        if prefetched is not None:
            return sorted(group.name for group in prefetched)
        return list(_role_names(self.pk, self.permissions_stamp))

    @property
    def actions(self) -> list[Action]:
        """What this user may do (``roles.ACTIONS``), for the API's ``me`` and the pages."""
        return actions_for(self)


@lru_cache(maxsize=4096)
def _role_names(user_id: int, stamp: uuid.UUID) -> tuple[str, ...]:
    """The names of the user's roles, sorted. ``stamp`` (``permissions_stamp``) is part of the key
    only: a change of roles, or a renamed role, renews it (``accounts.backends``)."""
    return tuple(
        sorted(
            Group.objects.filter(
                pk__in=User.groups.through.objects.filter(user_id=user_id).values("group")
            ).values_list("name", flat=True)
        )
    )


TOKEN_PREFIX = "rm_"  # noqa: S105 (a public prefix, not a secret)


def hash_token(raw: str) -> str:
    # Tokens are 256 random bits, so a fast hash is safe: nothing to brute-force, and a lookup per
    # API request stays cheap.
    return hashlib.sha256(raw.encode()).hexdigest()


def new_raw_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored; the token itself is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, to recognise a token in a list without revealing it.
    hint = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    ci_scope = models.CharField(
        max_length=100,
        blank=True,
        help_text="An agent's token: the identifier of the one CI it may fetch work and report for. Empty: no limit.",
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="accounts_apitoken_unique_active_name",
                violation_error_message="You already have an active token with this name.",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.hint}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "active"


FEED_TOKEN_PREFIX = "rmf_"  # noqa: S105 (a public prefix, not a secret)


def new_raw_feed_token() -> str:
    return FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)


class FeedToken(models.Model):
    """The secret part of a user's calendar feed address, for calendar apps that cannot sign in.
    Only its SHA-256 digest is stored; the address is shown once. One active token per user:
    renewing revokes the old one."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feed_tokens"
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "calendar feed token"
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(revoked_at__isnull=True),
                name="accounts_feedtoken_one_active",
                violation_error_message="You already have an active calendar feed address.",
            )
        ]

    def __str__(self):
        return f"Calendar feed of {self.user} ({self.hint}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
