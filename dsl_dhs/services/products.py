"""Licence products and software products of the Definitive Software Library."""

from django.db import transaction

from dsl_dhs.models import LicenceProduct, SoftwareProduct
from dsl_dhs.services.shared import create_from_fields, update_from_fields
from releasemgmt.core.services import record_delete

_LICENCE_PRODUCT_FIELDS = {"name", "vendor", "description"}
_SOFTWARE_PRODUCT_FIELDS = {"name", "vendor", "description", "licence_product"}


@transaction.atomic
def licence_product_create(*, by, **fields) -> LicenceProduct:
    """Create a licence product (name unique, case-insensitive → 400 when taken)."""
    return create_from_fields(LicenceProduct, by=by, fields=fields, allowed=_LICENCE_PRODUCT_FIELDS)


@transaction.atomic
def licence_product_update(*, licence_product: LicenceProduct, by, **fields) -> LicenceProduct:
    """Change a licence product's name, vendor or description under a row lock."""
    return update_from_fields(
        licence_product, by=by, fields=fields, allowed=_LICENCE_PRODUCT_FIELDS
    )


@transaction.atomic
def licence_product_delete(*, licence_product: LicenceProduct, by) -> None:
    """Delete a licence product; 409 while software products or CMDB licences refer to it."""
    record_delete(instance=licence_product, actor=by)


@transaction.atomic
def software_product_create(*, by, **fields) -> SoftwareProduct:
    """Create a software product (name unique, case-insensitive), optionally consuming a
    licence product."""
    return create_from_fields(
        SoftwareProduct, by=by, fields=fields, allowed=_SOFTWARE_PRODUCT_FIELDS
    )


@transaction.atomic
def software_product_update(*, product: SoftwareProduct, by, **fields) -> SoftwareProduct:
    """Change a software product under a row lock."""
    return update_from_fields(product, by=by, fields=fields, allowed=_SOFTWARE_PRODUCT_FIELDS)


@transaction.atomic
def software_product_delete(*, product: SoftwareProduct, by) -> None:
    """Delete a software product; 409 while it has versions or installations."""
    record_delete(instance=product, actor=by)
