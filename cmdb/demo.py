"""The demo estate: a few services on ~20 servers, ~200 workstations at head office, their
installed software and licences (one close to exhaustion, one expired) and a few CMDB errors.

Idempotent and quick on a second run: everything is looked up by its natural key first, and the
many workstations and their installations are created with bulk inserts. It runs after the DSL/DHS
demo and uses its products, versions, locations and hardware models by name; whatever is missing
is skipped with a note instead of failing."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from cmdb import services
from cmdb.choices import (
    CIKind,
    CIStatus,
    Environment,
    InstallSource,
    LicenceMetric,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from dsl_dhs.models import HardwareModel, LicenceProduct, Location, SoftwareVersion

WORKSTATIONS = 200
ACROBAT_EVERY = 7  # every 7th workstation has Acrobat
DUPLICATE_SERIAL = ("ws-0042", "ws-0137")  # the second reuses the first's serial number

# identifier, name, kind, tier, owner
SERVICES = [
    ("finance-platform", "Finance platform", CIKind.SERVICE, 1, "Finance IT"),
    ("billing", "Billing service", CIKind.SERVICE, 1, "Finance IT"),
    ("customer-portal", "Customer portal", CIKind.APPLICATION, 1, "Digital channels"),
    ("identity", "Identity and sign-on", CIKind.SERVICE, 1, "Security engineering"),
    ("data-warehouse", "Data warehouse", CIKind.SERVICE, 2, "Data team"),
    ("monitoring", "Monitoring", CIKind.SERVICE, 2, "Platform team"),
]
# identifier, environment, location code, role
SERVERS = [
    ("web-prod-01", Environment.PRODUCTION, "dc-north", "web"),
    ("web-prod-02", Environment.PRODUCTION, "dc-north", "web"),
    ("web-prod-03", Environment.PRODUCTION, "dc-south", "web"),
    ("web-stg-01", Environment.STAGING, "dc-north", "web"),
    ("web-test-01", Environment.TEST, "dc-south", "web"),
    ("bill-prod-01", Environment.PRODUCTION, "dc-north", "billing"),
    ("bill-prod-02", Environment.PRODUCTION, "dc-north", "billing"),
    ("bill-prod-03", Environment.PRODUCTION, "dc-south", "billing"),
    ("bill-stg-01", Environment.STAGING, "dc-north", "billing"),
    ("bill-test-01", Environment.TEST, "dc-south", "billing"),
    ("db-prod-01", Environment.PRODUCTION, "dc-north", "db"),
    ("db-prod-02", Environment.PRODUCTION, "dc-north", "db"),
    ("db-prod-03", Environment.PRODUCTION, "dc-south", "db"),
    ("db-stg-01", Environment.STAGING, "dc-north", "db"),
    ("idp-prod-01", Environment.PRODUCTION, "dc-north", "identity"),
    ("idp-prod-02", Environment.PRODUCTION, "dc-south", "identity"),
    ("dwh-prod-01", Environment.PRODUCTION, "dc-south", "dwh"),
    ("mon-prod-01", Environment.PRODUCTION, "dc-north", "monitoring"),
    ("app-test-01", Environment.TEST, "dc-south", "app"),
    ("web-old-01", Environment.PRODUCTION, "dc-south", "web"),  # retired, software still recorded
]
RELATIONSHIPS = [
    ("billing", RelationshipKind.PART_OF, "finance-platform"),
    ("data-warehouse", RelationshipKind.PART_OF, "finance-platform"),
    ("billing", RelationshipKind.RUNS_ON, "bill-prod-01"),
    ("billing", RelationshipKind.RUNS_ON, "bill-prod-02"),
    ("billing", RelationshipKind.RUNS_ON, "bill-prod-03"),
    ("billing", RelationshipKind.DEPENDS_ON, "db-prod-01"),
    ("billing", RelationshipKind.DEPENDS_ON, "identity"),
    ("customer-portal", RelationshipKind.RUNS_ON, "web-prod-01"),
    ("customer-portal", RelationshipKind.RUNS_ON, "web-prod-02"),
    ("customer-portal", RelationshipKind.RUNS_ON, "web-prod-03"),
    ("customer-portal", RelationshipKind.DEPENDS_ON, "billing"),
    ("customer-portal", RelationshipKind.DEPENDS_ON, "identity"),
    ("identity", RelationshipKind.RUNS_ON, "idp-prod-01"),
    ("identity", RelationshipKind.RUNS_ON, "idp-prod-02"),
    ("data-warehouse", RelationshipKind.RUNS_ON, "dwh-prod-01"),
    ("data-warehouse", RelationshipKind.DEPENDS_ON, "db-prod-02"),
    ("monitoring", RelationshipKind.RUNS_ON, "mon-prod-01"),
    ("web-prod-01", RelationshipKind.CONNECTED_TO, "web-prod-02"),
]
# role → (product name, version) installed on servers of that role
SERVER_SOFTWARE = {
    "web": [("Nginx", "1.26.2")],
    "billing": [("Billing Service", "3.5.0"), ("Oracle Database", "19.21")],
    "db": [("Oracle Database", "19.21")],
}
# name, licence product, metric, seats, threshold, valid from/until (days from today), vendor, contract
LICENCES = [
    (
        "Microsoft 365 Apps — 2026",
        "Microsoft 365 Apps",
        LicenceMetric.PER_DEVICE,
        205,
        10,
        (-330, 35),
        "Microsoft",
        "EA-2026-0117",
    ),
    (
        "Adobe Acrobat Pro — 2024",
        "Adobe Acrobat Pro",
        LicenceMetric.PER_SEAT,
        40,
        5,
        (-700, -30),
        "Adobe",
        "VIP-2024-3321",
    ),
    (
        "Endpoint Protection Suite — enterprise",
        "Endpoint Protection Suite",
        LicenceMetric.PER_DEVICE,
        250,
        20,
        (-120, 245),
        "Endpoint Security Inc.",
        "EPS-ENT-88",
    ),
    (
        "Oracle Database EE — processor",
        "Oracle Database Enterprise",
        LicenceMetric.PER_DEVICE,
        12,
        1,
        (-400, 700),
        "Oracle",
        "ORA-PR-5512",
    ),
]


def seed(stdout) -> None:
    actor = get_user_model().objects.filter(username="config-manager").first()
    locations = {
        loc.code: loc for loc in Location.objects.filter(code__in=["dc-north", "dc-south", "hq"])
    }
    versions = {
        (v.product.name, v.version): v
        for v in SoftwareVersion.objects.select_related("product__licence_product")
    }
    missing = [c for c in ("dc-north", "dc-south", "hq") if c not in locations]
    if missing:
        stdout.write(f"CMDB demo: locations {', '.join(missing)} missing (DSL/DHS demo not run?).")

    cis = _services(actor)
    cis.update(_servers(actor, locations))
    _relationships(actor, cis)
    licences = _licences(actor)
    workstations = _workstations(locations)
    _server_software(actor, cis, versions)
    _workstation_software(workstations, versions, licences)
    _errors(actor, cis, versions)
    summary = services.cmdb_integrity_check(notify=False)
    stdout.write(
        f"CMDB demo: {ConfigurationItem.objects.count()} configuration items, "
        f"{InstalledSoftware.objects.filter(removed_at__isnull=True).count()} current installations, "
        f"{Licence.objects.count()} licences, "
        f"{Discrepancy.objects.filter(resolved_at__isnull=True).count()} open errors "
        f"(integrity check: {summary['new']} new)."
    )


def _get_or_create_ci(actor, existing, identifier, **fields) -> ConfigurationItem:
    ci = existing.get(identifier)
    if ci is None:
        ci = services.ci_create(by=actor, identifier=identifier, **fields)
    return ci


def _services(actor) -> dict:
    existing = {
        ci.identifier: ci
        for ci in ConfigurationItem.objects.filter(identifier__in=[s[0] for s in SERVICES])
    }
    return {
        identifier: _get_or_create_ci(
            actor,
            existing,
            identifier,
            name=name,
            kind=kind,
            owner=owner,
            environment=Environment.PRODUCTION,
            attributes={"tier": tier, "support_group": owner},
        )
        for identifier, name, kind, tier, owner in SERVICES
    }


def _servers(actor, locations) -> dict:
    existing = {
        ci.identifier: ci
        for ci in ConfigurationItem.objects.filter(identifier__in=[s[0] for s in SERVERS])
    }
    model = HardwareModel.objects.filter(kind="server").order_by("pk").first()
    result = {}
    for number, (identifier, environment, code, role) in enumerate(SERVERS, start=1):
        ci = existing.get(identifier)
        if ci is None:
            ci = services.ci_create(
                by=actor,
                identifier=identifier,
                name=f"{role.capitalize()} server {identifier[-2:]} ({environment})",
                kind=CIKind.SERVER,
                environment=environment,
                location=locations.get(code),
                hardware_model=model,
                owner="Platform team",
                attributes={
                    "serial_number": f"SRV-{2400 + number}",
                    "os": "Red Hat Enterprise Linux 9" if role == "db" else "Debian 12",
                    "ip_address": f"10.{10 if code == 'dc-north' else 20}.0.{10 + number}",
                    "cpu_cores": 32 if role in ("db", "dwh") else 8,
                    "memory_gb": 256 if role in ("db", "dwh") else 32,
                    "rack": f"{code.upper()}-R{(number % 6) + 1:02d}",
                },
            )
            if identifier == "web-old-01":
                ci = services.ci_retire(
                    ci=ci, by=actor, reason="Replaced by web-prod-03; awaiting disposal."
                )
        result[identifier] = ci
    return result


def _relationships(actor, cis) -> None:
    existing = set(
        Relationship.objects.filter(source__in=cis.values()).values_list(
            "source__identifier", "kind", "target__identifier"
        )
    )
    for source, kind, target in RELATIONSHIPS:
        if (source, kind, target) not in existing and source in cis and target in cis:
            services.relationship_create(
                source=cis[source], target=cis[target], kind=kind, by=actor
            )


def _licences(actor) -> dict:
    products = {
        p.name: p for p in LicenceProduct.objects.filter(name__in=[row[1] for row in LICENCES])
    }
    existing = {
        licence.name: licence
        for licence in Licence.objects.filter(name__in=[row[0] for row in LICENCES])
    }
    today = timezone.localdate()
    result = {}
    for name, product, metric, seats, threshold, (start, end), vendor, contract in LICENCES:
        licence = existing.get(name)
        if licence is None:
            if product not in products:
                continue
            licence = services.licence_create(
                by=actor,
                licence_product=products[product],
                name=name,
                metric=metric,
                seats=seats,
                low_seat_threshold=threshold,
                valid_from=today + timedelta(days=start),
                valid_until=today + timedelta(days=end),
                vendor=vendor,
                contract_reference=contract,
            )
        result[product] = licence
    return result


def _workstations(locations) -> list[ConfigurationItem]:
    """~200 workstations at head office, bulk-inserted with one history row each."""
    identifiers = [f"ws-{n:04d}" for n in range(1, WORKSTATIONS + 1)]
    existing = set(
        ConfigurationItem.objects.filter(identifier__in=identifiers).values_list(
            "identifier", flat=True
        )
    )
    model = HardwareModel.objects.filter(kind="workstation").order_by("pk").first()
    new = []
    for n, identifier in enumerate(identifiers, start=1):
        if identifier in existing:
            continue
        serial = f"HQ-{7000 + n}"
        if identifier == DUPLICATE_SERIAL[1]:
            serial = f"HQ-{7000 + int(DUPLICATE_SERIAL[0][3:])}"
        new.append(
            ConfigurationItem(
                identifier=identifier,
                name=f"Workstation {n:04d}",
                kind=CIKind.WORKSTATION,
                status=CIStatus.ACTIVE,
                environment=Environment.PRODUCTION,
                location=locations.get("hq"),
                hardware_model=model,
                owner="Workplace services",
                attributes={
                    "serial_number": serial,
                    "os": "Windows 11 23H2",
                    "memory_gb": 16,
                    "assigned_to": f"employee {n:04d}",
                },
            )
        )
    if new:
        # Bulk: one INSERT for the items and one for their "created" history rows.
        bulk_create_with_history(
            new, ConfigurationItem, batch_size=500, default_change_reason="demo"
        )
    return list(ConfigurationItem.objects.filter(identifier__in=identifiers).order_by("identifier"))


def _server_software(actor, cis, versions) -> None:
    """A handful of installations through the service (licence allocation, audit)."""
    current = set(
        InstalledSoftware.objects.filter(ci__in=cis.values(), removed_at__isnull=True).values_list(
            "ci__identifier", "product__name"
        )
    )
    installed_at = timezone.now() - timedelta(days=60)
    for identifier, _env, _code, role in SERVERS:
        for product, version in SERVER_SOFTWARE.get(role, []):
            if (identifier, product) in current or (product, version) not in versions:
                continue
            services.installed_software_record(
                ci=cis[identifier],
                version=versions[(product, version)],
                by=actor,
                source=InstallSource.IMPORT,
                source_reference="initial CMDB load",
                installed_at=installed_at,
            )


def _workstation_software(workstations, versions, licences) -> None:
    """Microsoft 365 Apps 2410 and Endpoint Protection 8.2 on every workstation, Acrobat 24.2 on
    some. Bulk-inserted with their licence set directly (the seats are there): the installed
    software model keeps no simple-history, and these rows say where they came from."""
    wanted = [
        (("Microsoft 365 Apps", "2410"), "Microsoft 365 Apps", lambda n: True),
        (("Endpoint Protection", "8.2"), "Endpoint Protection Suite", lambda n: True),
        (("Adobe Acrobat Pro", "24.2"), "Adobe Acrobat Pro", lambda n: n % ACROBAT_EVERY == 0),
    ]
    current = set(
        InstalledSoftware.objects.filter(ci__in=workstations, removed_at__isnull=True).values_list(
            "ci_id", "product_id"
        )
    )
    installed_at = timezone.now() - timedelta(days=90)
    rows = []
    for key, licence_product, applies in wanted:
        version = versions.get(key)
        if version is None:
            continue
        licence = licences.get(licence_product)
        for n, ci in enumerate(workstations, start=1):
            if applies(n) and (ci.pk, version.product_id) not in current:
                rows.append(
                    InstalledSoftware(
                        ci=ci,
                        product_id=version.product_id,
                        version=version,
                        licence=licence,
                        installed_at=installed_at,
                        source=InstallSource.IMPORT,
                        source_reference="workplace baseline 2026",
                    )
                )
    InstalledSoftware.objects.bulk_create(rows, batch_size=1000)


def _errors(actor, cis, versions) -> None:
    """An agent's version mismatch (open) and an earlier one that was resolved. The duplicate
    serial number, the retired target and the expired licence are found by the integrity check."""
    if (
        "bill-prod-03" in cis
        and not Discrepancy.objects.filter(fingerprint="demo:agent:bill-prod-03:billing").exists()
    ):
        services.discrepancy_record(
            kind="version_mismatch",
            source="agent_report",
            subject="Billing Service on bill-prod-03",
            expected="Billing Service 3.5.0 (as recorded in the CMDB)",
            found="Billing Service 3.4.0 reported by the agent",
            ci=cis["bill-prod-03"],
            software_version=versions.get(("Billing Service", "3.4.0")),
            reference="agent bill-prod-03",
            fingerprint="demo:agent:bill-prod-03:billing",
        )
    if (
        "web-prod-02" in cis
        and not Discrepancy.objects.filter(fingerprint="demo:agent:web-prod-02:nginx").exists()
    ):
        record, _ = services.discrepancy_record(
            kind="version_mismatch",
            source="agent_report",
            subject="Nginx on web-prod-02",
            expected="Nginx 1.26.2",
            found="Nginx 1.24.0 reported by the agent",
            ci=cis["web-prod-02"],
            reference="agent web-prod-02",
            fingerprint="demo:agent:web-prod-02:nginx",
        )
        services.discrepancy_resolve(
            discrepancy=record,
            by=actor,
            resolution="The agent reported before the upgrade finished; it now reports 1.26.2.",
        )
