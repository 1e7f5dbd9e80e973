from django.db import models


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft (awaiting authorisation)"
    AUTHORISED = "authorised", "Authorised"
    QUARANTINED = "quarantined", "Quarantined"
    RETIRED = "retired", "Retired"


# Which status changes a person may make; the integrity task may also quarantine.
VERSION_STATUS_CHANGES = {
    VersionStatus.DRAFT: {VersionStatus.AUTHORISED, VersionStatus.RETIRED},
    VersionStatus.AUTHORISED: {VersionStatus.QUARANTINED, VersionStatus.RETIRED},
    VersionStatus.QUARANTINED: {VersionStatus.AUTHORISED, VersionStatus.RETIRED},
    VersionStatus.RETIRED: set(),
}


class HardwareKind(models.TextChoices):
    SERVER = "server", "Server"
    WORKSTATION = "workstation", "Workstation"
    LAPTOP = "laptop", "Laptop"
    NETWORK_DEVICE = "network_device", "Network device"
    STORAGE = "storage", "Storage"
    COMPONENT = "component", "Component (disk, memory, card)"
    PERIPHERAL = "peripheral", "Peripheral"


class ReservationStatus(models.TextChoices):
    RESERVED = "reserved", "Reserved"
    CONSUMED = "consumed", "Consumed (installed)"
    RETURNED = "returned", "Returned to stock"


class CheckResult(models.TextChoices):
    OK = "ok", "Checksum matches"
    MISMATCH = "mismatch", "Checksum differs"
    MISSING = "missing", "Artefact missing"
