from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from cmdb.choices import (
    RELATIONSHIP_INVERSE,
    CIKind,
    CIStatus,
    Environment,
    RelationshipKind,
    ci_class,
)


class ConfigurationItem(models.Model):
    """Anything under configuration control: hardware, software, a service or an application."""

    identifier = models.CharField(
        max_length=100, help_text="Unique identity: hostname, asset tag or service key."
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=CIKind.choices, db_index=True)
    status = models.CharField(
        max_length=20, choices=CIStatus.choices, default=CIStatus.ACTIVE, db_index=True
    )
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.PRODUCTION, db_index=True
    )
    location = models.ForeignKey(
        "dsl_dhs.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="configuration_items",
    )
    hardware_model = models.ForeignKey(
        "dsl_dhs.HardwareModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="configuration_items",
    )
    owner = models.CharField(max_length=200, blank=True, help_text="Responsible team or person.")
    description = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["identifier"]
        verbose_name = "configuration item"
        constraints = [
            models.UniqueConstraint(
                Lower("identifier"),
                name="cmdb_ci_unique_identifier",
                violation_error_message="A configuration item with this identifier exists.",
            )
        ]
        indexes = [
            models.Index(fields=["kind", "status", "environment"], name="cmdb_ci_kind_status_env")
        ]

    def __str__(self):
        return self.identifier

    @property
    def ci_class(self) -> str:
        return ci_class(self.kind)

    @property
    def is_active(self) -> bool:
        return self.status == CIStatus.ACTIVE


class Relationship(models.Model):
    """``source`` *kind* ``target``: "billing-app runs on web-01"."""

    source = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="outgoing")
    target = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="incoming")
    kind = models.CharField(max_length=20, choices=RelationshipKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["source__identifier", "kind", "target__identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "kind"],
                name="cmdb_relationship_unique",
                violation_error_message="This relationship exists already.",
            ),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")),
                name="cmdb_relationship_not_self",
                violation_error_message="A configuration item cannot be related to itself.",
            ),
        ]

    def __str__(self):
        return f"{self.source} {self.get_kind_display()} {self.target}"

    @property
    def inverse_label(self) -> str:
        return RELATIONSHIP_INVERSE[self.kind]
