"""Writes of the Definitive Software Library and the Definitive Hardware Store.

Every write is one transaction with its audit event (``record_save`` / ``record_delete`` /
``audit_record``) and the rows it changes locked first. One deliberate exception: hashing an
artefact (upload, authorisation, verification) streams the whole file, seconds for a large one, so
it runs *before* the transaction opens and the row is re-checked under its lock afterwards. A long
hash then never holds a row lock, nor SQLite's database-wide write lock.

- ``products``: licence products and software products
- ``versions``: software versions and their artefacts (upload, status, integrity check)
- ``hardware_store``: locations, hardware models, stock and reservations
- ``shared``: create or change a row from the fields a service allows
"""

from dsl_dhs.services.hardware_store import (
    hardware_model_create,
    hardware_model_delete,
    hardware_model_update,
    location_create,
    location_delete,
    location_update,
    reservation_consume,
    reservation_create,
    reservation_return,
    stock_adjust,
    stock_create,
    stock_delete,
)
from dsl_dhs.services.products import (
    licence_product_create,
    licence_product_delete,
    licence_product_update,
    software_product_create,
    software_product_delete,
    software_product_update,
)
from dsl_dhs.services.versions import (
    AUTHORISE_PERMISSION,
    HASH_CHUNK_BYTES,
    VERIFY_BATCH,
    ArtefactTooLarge,
    artefact_too_large,
    software_version_check_upload,
    software_version_create,
    software_version_delete,
    software_version_set_status,
    software_version_update,
    software_version_upload,
    software_version_verify,
    software_versions_verify,
)

__all__ = [
    "AUTHORISE_PERMISSION",
    "HASH_CHUNK_BYTES",
    "VERIFY_BATCH",
    "ArtefactTooLarge",
    "artefact_too_large",
    "hardware_model_create",
    "hardware_model_delete",
    "hardware_model_update",
    "licence_product_create",
    "licence_product_delete",
    "licence_product_update",
    "location_create",
    "location_delete",
    "location_update",
    "reservation_consume",
    "reservation_create",
    "reservation_return",
    "software_product_create",
    "software_product_delete",
    "software_product_update",
    "software_version_check_upload",
    "software_version_create",
    "software_version_delete",
    "software_version_set_status",
    "software_version_update",
    "software_version_upload",
    "software_version_verify",
    "software_versions_verify",
    "stock_adjust",
    "stock_create",
    "stock_delete",
]
