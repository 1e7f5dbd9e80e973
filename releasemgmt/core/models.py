"""Project-wide records that know no domain: the audit log, process heartbeats, and work due
later (a row with a due time, picked by a periodic task)."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from releasemgmt.core.choices import Component


class AuditEvent(models.Model):
    """One thing somebody (or the system) did: who, when, to what, which action, and the
    before/after values where they apply. Written by services, never edited."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    # Kept as text so the trail survives the user's deletion and names the system when no user acted.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=100, db_index=True)
    # no index of its own: it leads the (content type, object id, time) index, and every
    # audited write inserts a row here
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    target = GenericForeignKey("content_type", "object_id")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-occurred_at"])]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"


class Heartbeat(models.Model):
    """The last sign of life of a background process (worker, beat); /healthz reads it."""

    component = models.CharField(max_length=20, choices=Component.choices, primary_key=True)
    last_seen = models.DateTimeField()
    detail = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return f"{self.component} @ {self.last_seen.isoformat()}"
