"""Writes of the CMDB: configuration items, relationships, installed software, licences and
discrepancies. Each service is one transaction with its audit event. Import from here
(``from cmdb import services``) or from the module of the concern:

- ``items``: configuration items and relationships
- ``software``: installed software (recorded, removed)
- ``licences``: licences, seat allocation and seat alerts
- ``discrepancies``: CMDB and licence errors, recorded, reported, kept in step, resolved
- ``integrity``: the integrity check over the whole CMDB

The services never import ``cmdb.tasks``: work for a worker is enqueued by its Celery name
(``releasemgmt.core.queue.delay_on_commit``)."""

from cmdb.services.discrepancies import (
    discrepancies_sync,
    discrepancy_record,
    discrepancy_report,
    discrepancy_resolve,
    fingerprint_licence_missing,
)
from cmdb.services.integrity import (
    CHECKED_KINDS,
    RESOLVED_BY_CHECK,
    cmdb_integrity_check,
)
from cmdb.services.items import (
    ci_create,
    ci_delete,
    ci_retire,
    ci_update,
    relationship_create,
    relationship_delete,
)
from cmdb.services.licences import (
    ALERT_CLEARED,
    ALERT_LOW,
    ALERT_OVER,
    licence_alerts_notify,
    licence_alerts_update,
    licence_allocate,
    licence_create,
    licence_delete,
    licence_update,
)
from cmdb.services.software import (
    installed_software_record,
    installed_software_remove,
)

__all__ = [
    "ALERT_CLEARED",
    "ALERT_LOW",
    "ALERT_OVER",
    "CHECKED_KINDS",
    "RESOLVED_BY_CHECK",
    "ci_create",
    "ci_delete",
    "ci_retire",
    "ci_update",
    "cmdb_integrity_check",
    "discrepancies_sync",
    "discrepancy_record",
    "discrepancy_report",
    "discrepancy_resolve",
    "fingerprint_licence_missing",
    "installed_software_record",
    "installed_software_remove",
    "licence_alerts_notify",
    "licence_alerts_update",
    "licence_allocate",
    "licence_create",
    "licence_delete",
    "licence_update",
    "relationship_create",
    "relationship_delete",
]
