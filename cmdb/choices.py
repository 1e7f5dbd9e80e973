from django.db import models


class CIKind(models.TextChoices):
    SERVER = "server", "Server"
    VIRTUAL_MACHINE = "virtual_machine", "Virtual machine"
    WORKSTATION = "workstation", "Workstation"
    LAPTOP = "laptop", "Laptop"
    NETWORK_DEVICE = "network_device", "Network device"
    STORAGE = "storage", "Storage"
    SOFTWARE = "software", "Software"
    SERVICE = "service", "Service"
    APPLICATION = "application", "Application"


HARDWARE_KINDS = frozenset(
    {
        CIKind.SERVER,
        CIKind.VIRTUAL_MACHINE,
        CIKind.WORKSTATION,
        CIKind.LAPTOP,
        CIKind.NETWORK_DEVICE,
        CIKind.STORAGE,
    }
)
SERVICE_KINDS = frozenset({CIKind.SERVICE, CIKind.APPLICATION})


class CIClass(models.TextChoices):
    HARDWARE = "hardware", "Hardware"
    SOFTWARE = "software", "Software"
    SERVICE = "service", "Service / application"


def ci_class(kind: str) -> str:
    if kind in HARDWARE_KINDS:
        return CIClass.HARDWARE
    if kind in SERVICE_KINDS:
        return CIClass.SERVICE
    return CIClass.SOFTWARE


class CIStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    MAINTENANCE = "maintenance", "Maintenance"
    RETIRED = "retired", "Retired"


class Environment(models.TextChoices):
    PRODUCTION = "production", "Production"
    STAGING = "staging", "Staging"
    TEST = "test", "Test"
    DEVELOPMENT = "development", "Development"


class RelationshipKind(models.TextChoices):
    INSTALLED_ON = "installed_on", "installed on"
    RUNS_ON = "runs_on", "runs on"
    DEPENDS_ON = "depends_on", "depends on"
    PART_OF = "part_of", "part of"
    CONNECTED_TO = "connected_to", "connected to"


# How the other end reads the relationship ("web-01 hosts billing").
RELATIONSHIP_INVERSE = {
    RelationshipKind.INSTALLED_ON: "hosts",
    RelationshipKind.RUNS_ON: "runs",
    RelationshipKind.DEPENDS_ON: "is needed by",
    RelationshipKind.PART_OF: "contains",
    RelationshipKind.CONNECTED_TO: "connected to",
}


class InstallSource(models.TextChoices):
    RELEASE = "release", "Release"
    IMPORT = "import", "Import"
    AGENT = "agent", "Agent report"
    MANUAL = "manual", "Manual entry"


class LicenceMetric(models.TextChoices):
    PER_SEAT = "per_seat", "Per seat (each installation)"
    PER_DEVICE = "per_device", "Per device"
    SITE = "site", "Site (unlimited)"
    SUBSCRIPTION = "subscription", "Subscription (per device, time-limited)"


class ErrorCategory(models.TextChoices):
    CMDB = "cmdb", "CMDB error"
    LICENCE = "licence", "Licence error"


class ErrorKind(models.TextChoices):
    MISSING_TARGET = "missing_target", "Missing target"
    RETIRED_TARGET = "retired_target", "Retired or inactive target"
    VERSION_MISMATCH = "version_mismatch", "Version mismatch"
    DUPLICATE_IDENTITY = "duplicate_identity", "Duplicate identity"
    BROKEN_RELATIONSHIP = "broken_relationship", "Broken relationship"
    UNAUTHORISED_SOFTWARE = "unauthorised_software", "Unauthorised software"
    SEATS_EXCEEDED = "seats_exceeded", "Seats exceeded"
    LICENCE_EXPIRED = "licence_expired", "Licence expired"
    LICENCE_MISSING = "licence_missing", "Licence missing"
    HARDWARE_NOT_RESERVED = "hardware_not_reserved", "Hardware not reserved"


ERROR_KIND_CATEGORY = {
    ErrorKind.MISSING_TARGET: ErrorCategory.CMDB,
    ErrorKind.HARDWARE_NOT_RESERVED: ErrorCategory.CMDB,
    ErrorKind.RETIRED_TARGET: ErrorCategory.CMDB,
    ErrorKind.VERSION_MISMATCH: ErrorCategory.CMDB,
    ErrorKind.DUPLICATE_IDENTITY: ErrorCategory.CMDB,
    ErrorKind.BROKEN_RELATIONSHIP: ErrorCategory.CMDB,
    ErrorKind.UNAUTHORISED_SOFTWARE: ErrorCategory.CMDB,
    ErrorKind.SEATS_EXCEEDED: ErrorCategory.LICENCE,
    ErrorKind.LICENCE_EXPIRED: ErrorCategory.LICENCE,
    ErrorKind.LICENCE_MISSING: ErrorCategory.LICENCE,
}


class ErrorSource(models.TextChoices):
    VERIFICATION = "verification", "Release verification"
    AGENT_REPORT = "agent_report", "Agent report"
    IMPORT = "import", "Import"
    INTEGRITY_CHECK = "integrity_check", "Integrity check"
    MANUAL = "manual", "Manual"
