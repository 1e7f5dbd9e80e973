"""Inbound change-management webhooks: the sources that may send them, their signing secrets and
every delivery, stored raw before it is processed; and the outbound status callbacks with their
attempts. Models of the ``releases`` app (its migrations, ``releases_*`` tables), kept beside the
rest of the integration; ``releases.models`` re-exports them."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


class WebhookAdapter(models.TextChoices):
    GENERIC = "generic", "Generic change event"
    SERVICENOW = "servicenow", "ServiceNow change_request"
    JIRA = "jira", "Jira / Jira Service Management issue"


class WebhookPolicy(models.TextChoices):
    AUTO_RELEASE = "auto_release", "Create a release for an approved change"
    TRIAGE = "triage", "Queue approved changes for a release manager"


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class DeliveryAttention(models.TextChoices):
    NONE = "", "—"
    TRIAGE = "triage", "Waiting for triage"
    FLAGGED = "flagged", "Flagged for a person"


class WebhookSource(models.Model):
    """A change-management system allowed to POST to ``/api/v1/webhooks/<name>/``."""

    name = models.SlugField(
        max_length=50,
        unique=True,
        help_text="Part of the webhook URL and the change requests' source system.",
    )
    adapter = models.CharField(max_length=20, choices=WebhookAdapter.choices)
    active = models.BooleanField(
        default=True, help_text="An inactive source is told to stop sending (410)."
    )
    policy = models.CharField(
        max_length=20, choices=WebhookPolicy.choices, default=WebhookPolicy.AUTO_RELEASE
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="How to read dates sent without an offset (ServiceNow's start_date/end_date).",
    )
    approved_statuses = models.CharField(
        max_length=300,
        blank=True,
        default="Awaiting implementation, Implementing, Approved, Scheduled",
        help_text="Jira: comma-separated status names that mean the change is approved.",
    )
    cancelled_statuses = models.CharField(
        max_length=300,
        blank=True,
        default="Canceled, Cancelled, Declined",
        help_text="Jira: comma-separated status names that mean the change is cancelled.",
    )
    planned_start_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="Jira: the field holding the planned start (e.g. customfield_10035).",
    )
    planned_end_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="Jira: the field holding the planned end (e.g. customfield_10036).",
    )
    callback_url = models.URLField(
        max_length=500, blank=True, help_text="Where release status events are posted back."
    )
    callback_authorization = models.TextField(
        blank=True,
        help_text="Optional Authorization header for systems that cannot check signatures "
        "(e.g. “Bearer …” or “Basic …”); sealed like the signing secrets.",
    )
    callback_enabled = models.BooleanField(
        default=True, help_text="Off after the receiver answered 410 Gone."
    )
    callback_disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                {"time_zone": f"Unknown time zone {self.time_zone!r}; e.g. UTC or Europe/Berlin."}
            ) from None

    @staticmethod
    def status_names(text: str) -> set[str]:
        return {part.strip().casefold() for part in text.split(",") if part.strip()}


class WebhookSecret(models.Model):
    """One signing secret of a source; several may be live at once while the sender rotates.
    ``value`` holds the Fernet token when ``WEBHOOK_SECRET_KEY`` is set, else the secret itself
    (see ``releases.webhooks.secrets``)."""

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE, related_name="secrets")
    value = models.TextField(editable=False)
    hint = models.CharField(
        max_length=20, editable=False, help_text="The first characters, to tell secrets apart."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "-created_at", "-id"]

    def __str__(self):
        return f"{self.source} {self.hint}…"


class WebhookDelivery(models.Model):
    """One accepted POST, kept exactly as received; ``status`` says how far processing got."""

    # no index of its own: it leads the unique (source, webhook-id) index every delivery checks
    source = models.ForeignKey(
        WebhookSource, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    webhook_id = models.CharField(
        max_length=200,
        validators=[RegexValidator(r"^\S+$")],
        help_text="The sender's `webhook-id`: a repeat is a duplicate.",
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    event_type = models.CharField(max_length=50, blank=True)
    outcome = models.TextField(blank=True, help_text="What processing did, or why it failed.")
    attention = models.CharField(
        max_length=20, choices=DeliveryAttention.choices, blank=True, default=""
    )
    change_request = models.ForeignKey(
        "releases.ChangeRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_deliveries",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        permissions = [("replay_webhookdelivery", "Can replay a webhook delivery")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "webhook_id"], name="releases_webhook_delivery_unique_id"
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="releases_wh_status_recv")]

    def __str__(self):
        return f"{self.source} {self.webhook_id}"


class CallbackStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Gave up"
    DISABLED = "disabled", "Not sent: callbacks disabled (410)"


class CallbackDelivery(models.Model):
    """A release status event to post back to a source's callback URL, retried with back-off.
    The row is the delivery log; ``attempts`` hold each try."""

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE, related_name="callbacks")
    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="callbacks"
    )
    event = models.CharField(max_length=50, help_text="e.g. release.installing")
    message_id = models.CharField(
        max_length=100, unique=True, help_text="The webhook-id sent (the same on every retry)."
    )
    payload = models.JSONField()
    status = models.CharField(
        max_length=20, choices=CallbackStatus.choices, default=CallbackStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "callback deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="releases_callback_due")]

    def __str__(self):
        return f"{self.event} → {self.source} ({self.status})"


class CallbackAttempt(models.Model):
    delivery = models.ForeignKey(
        CallbackDelivery, on_delete=models.CASCADE, related_name="attempts"
    )
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.delivery_id} @ {self.at:%H:%M:%S}: {self.status_code or self.error[:40]}"
