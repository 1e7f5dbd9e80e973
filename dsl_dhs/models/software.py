"""The Definitive Software Library: products, their versions and the artefacts behind them."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from dsl_dhs.choices import CheckResult, VersionStatus


class LicenceProduct(models.Model):
    """What a licence is bought for (e.g. "Microsoft 365 E3"). Software products name the licence
    product their installations consume; licences in the CMDB are held for a licence product."""

    name = models.CharField(max_length=200)
    vendor = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="dsl_licenceproduct_unique_name",
                violation_error_message="A licence product with this name exists.",
            )
        ]

    def __str__(self):
        return self.name


class SoftwareProduct(models.Model):
    name = models.CharField(max_length=200)
    vendor = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    licence_product = models.ForeignKey(
        LicenceProduct,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="software_products",
        help_text="The licence each installation consumes; empty for software that needs none.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="dsl_softwareproduct_unique_name",
                violation_error_message="A software product with this name exists.",
            )
        ]

    def __str__(self):
        return self.name


def artefact_path(version: "SoftwareVersion", filename: str) -> str:
    return f"dsl/{version.product_id}/{version.version}/{filename}"


class SoftwareVersion(models.Model):
    """One version of a product, with its artefact. Only ``authorised`` versions may enter a
    release; an artefact whose recomputed checksum differs is quarantined."""

    product = models.ForeignKey(SoftwareProduct, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=100)
    artefact = models.FileField(upload_to=artefact_path, max_length=500, blank=True)
    artefact_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT, db_index=True
    )
    release_notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    authorised_at = models.DateTimeField(null=True, blank=True)
    authorised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["product__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                "product",
                Lower("version"),
                name="dsl_softwareversion_unique_version",
                violation_error_message="This product already has this version.",
            ),
            models.CheckConstraint(
                condition=models.Q(sha256="") | models.Q(sha256__regex=r"^[0-9a-f]{64}$"),
                name="dsl_softwareversion_sha256_hex",
            ),
        ]
        permissions = [
            ("authorise_softwareversion", "Can authorise, quarantine or retire software versions"),
            ("download_softwareversion", "Can download software artefacts"),
        ]

    def __str__(self):
        return f"{self.product.name} {self.version}"

    @property
    def is_authorised(self) -> bool:
        return self.status == VersionStatus.AUTHORISED


class ArtefactCheck(models.Model):
    """One recomputation of a version's checksum: what was expected and what was found."""

    version = models.ForeignKey(SoftwareVersion, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    result = models.CharField(max_length=20, choices=CheckResult.choices)
    expected_sha256 = models.CharField(max_length=64)
    found_sha256 = models.CharField(max_length=64, blank=True)
    found_size = models.PositiveBigIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self):
        return f"{self.version} {self.result} @ {self.checked_at:%Y-%m-%d %H:%M}"
