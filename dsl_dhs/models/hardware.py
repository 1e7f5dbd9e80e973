"""The Definitive Hardware Store: hardware models, spare stock per location and reservations.

Quantities are guarded twice: services lock the stock row, and CHECK constraints make a negative
or over-reserved quantity impossible whatever writes it."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from dsl_dhs.choices import HardwareKind, ReservationStatus


class Location(models.Model):
    """A site, room or store where configuration items stand and spares are kept."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class HardwareModel(models.Model):
    manufacturer = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    part_number = models.CharField(max_length=100)
    kind = models.CharField(max_length=30, choices=HardwareKind.choices)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["manufacturer", "name"]
        constraints = [
            models.UniqueConstraint(
                Lower("part_number"),
                name="dhs_hardwaremodel_unique_part_number",
                violation_error_message="A hardware model with this part number exists.",
            )
        ]

    def __str__(self):
        return f"{self.manufacturer} {self.name}"


class Stock(models.Model):
    """Spare units of one model at one location. ``free = on_hand - reserved``."""

    hardware_model = models.ForeignKey(
        HardwareModel, on_delete=models.PROTECT, related_name="stock"
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stock")
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hardware_model__manufacturer", "hardware_model__name", "location__name"]
        verbose_name_plural = "stock"
        constraints = [
            models.UniqueConstraint(
                fields=["hardware_model", "location"], name="dhs_stock_unique_model_location"
            ),
            models.CheckConstraint(
                condition=models.Q(on_hand__gte=0), name="dhs_stock_on_hand_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0), name="dhs_stock_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(reserved__lte=models.F("on_hand")),
                name="dhs_stock_reserved_within_on_hand",
                violation_error_message="Cannot reserve more units than are on hand.",
            ),
        ]

    def __str__(self):
        return f"{self.hardware_model} @ {self.location}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def free(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    """Units held for a purpose (usually a release): reserved → consumed (installed) or returned."""

    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20,
        choices=ReservationStatus.choices,
        default=ReservationStatus.RESERVED,
        db_index=True,
    )
    reference = models.CharField(
        max_length=100, blank=True, help_text="What the units are for, e.g. a release number."
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="dhs_reservation_quantity_positive"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.stock.hardware_model} for {self.reference or 'unspecified'} ({self.status})"
