"""Demo data of the DSL and DHS (``manage.py seed_demo``): idempotent, everything looked up by
its natural key. Artefacts are small real files written through the storage API with their real
SHA-256; the CMDB demo refers to these product and location names."""

import hashlib
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from dsl_dhs.choices import CheckResult, HardwareKind, ReservationStatus, VersionStatus
from dsl_dhs.models import (
    ArtefactCheck,
    HardwareModel,
    LicenceProduct,
    Location,
    Reservation,
    SoftwareProduct,
    SoftwareVersion,
    Stock,
)

LICENCE_PRODUCTS = {
    "Microsoft 365 Apps": "Microsoft",
    "Adobe Acrobat Pro": "Adobe",
    "Oracle Database Enterprise": "Oracle",
    "Endpoint Protection Suite": "Sentinel Security",
}

# name: (vendor, licence product, artefact file pattern, versions oldest first)
PRODUCTS = {
    "Microsoft 365 Apps": (
        "Microsoft",
        "Microsoft 365 Apps",
        "OfficeSetup-{v}.exe",
        ["2408", "2410", "2412"],
    ),
    "Adobe Acrobat Pro": ("Adobe", "Adobe Acrobat Pro", "AcrobatPro-{v}.msi", ["24.1", "24.2"]),
    "Oracle Database": (
        "Oracle",
        "Oracle Database Enterprise",
        "oracle-database-ee-{v}.x86_64.rpm",
        ["19.21", "19.22"],
    ),
    "Endpoint Protection": (
        "Sentinel Security",
        "Endpoint Protection Suite",
        "endpoint-protection-{v}.pkg",
        ["8.1", "8.2"],
    ),
    "Billing Service": (
        "In-house",
        None,
        "billing-service-{v}.tar.gz",
        ["3.4.0", "3.5.0", "3.6.0"],
    ),
    "Customer Portal": ("In-house", None, "customer-portal-{v}.tar.gz", ["1.9.0", "2.0.0"]),
    "Nginx": ("F5 / nginx.org", None, "nginx-{v}.tar.gz", ["1.26.2", "1.27.3"]),
}
DRAFT = {("Customer Portal", "2.0.0")}
QUARANTINED = {("Nginx", "1.27.3")}

LOCATIONS = {
    "dc-north": "Data centre North",
    "dc-south": "Data centre South",
    "hq": "Head office",
}

# part number: (manufacturer, name, kind)
HARDWARE_MODELS = {
    "PE-R760": ("Dell", "PowerEdge R760", HardwareKind.SERVER),
    "P52534-B21": ("HPE", "ProLiant DL380 Gen11", HardwareKind.SERVER),
    "12E3000AUK": ("Lenovo", "ThinkCentre M90q Gen 4", HardwareKind.WORKSTATION),
    "OPT7010T": ("Dell", "OptiPlex 7010 Tower", HardwareKind.WORKSTATION),
    "LAT7440": ("Dell", "Latitude 7440", HardwareKind.LAPTOP),
    "21HD003MUK": ("Lenovo", "ThinkPad T14 Gen 4", HardwareKind.LAPTOP),
    "C9300-48P-E": ("Cisco", "Catalyst 9300-48P", HardwareKind.NETWORK_DEVICE),
    "MZQL21T9HCJR-00A07": ("Samsung", "PM9A3 1.92 TB NVMe SSD", HardwareKind.COMPONENT),
    "ST16000NM000J": ("Seagate", "Exos X18 16 TB HDD", HardwareKind.COMPONENT),
}

# (part number, location code): units on hand
STOCK = {
    ("PE-R760", "dc-north"): 4,
    ("PE-R760", "hq"): 1,
    ("P52534-B21", "dc-north"): 2,
    ("P52534-B21", "dc-south"): 1,
    ("12E3000AUK", "hq"): 25,
    ("OPT7010T", "hq"): 12,
    ("LAT7440", "hq"): 18,
    ("LAT7440", "dc-north"): 2,
    ("21HD003MUK", "hq"): 9,
    ("C9300-48P-E", "dc-north"): 1,  # held by REL-2026-0003: the model with 0 free units
    ("MZQL21T9HCJR-00A07", "dc-north"): 10,
    ("MZQL21T9HCJR-00A07", "dc-south"): 6,
    ("ST16000NM000J", "dc-north"): 8,
    ("ST16000NM000J", "hq"): 2,
}

# reference: (part number, location, quantity, status, note, days ago)
RESERVATIONS = {
    "REL-2026-0001": (
        "LAT7440",
        "hq",
        2,
        ReservationStatus.CONSUMED,
        "Laptops for the new service desk starters.",
        40,
    ),
    "REL-2026-0002": (
        "MZQL21T9HCJR-00A07",
        "dc-north",
        4,
        ReservationStatus.RETURNED,
        "Storage expansion, backed out.",
        25,
    ),
    "REL-2026-0003": (
        "C9300-48P-E",
        "dc-north",
        1,
        ReservationStatus.RESERVED,
        "Core switch replacement in rack N-12.",
        3,
    ),
}


def artefact_bytes(product: str, version: str) -> bytes:
    """A few KiB, the same on every run (so the recorded SHA-256 never changes)."""
    header = f"{product} {version}: demo artefact of the Definitive Software Library\n".encode()
    seed = hashlib.sha256(header).digest()
    blocks = [seed]
    for _ in range(127):
        blocks.append(hashlib.sha256(blocks[-1]).digest())
    return header + b"".join(blocks)


def _user(username: str):
    return get_user_model().objects.filter(username=username).first()


def _store(version: SoftwareVersion, filename: str, content: bytes) -> None:
    version.artefact.save(filename, ContentFile(content), save=False)
    version.artefact_name = filename


def seed(stdout) -> None:
    manager = _user("config-manager")
    now = timezone.now()
    licence_products = {}
    for name, vendor in LICENCE_PRODUCTS.items():
        licence_products[name], _ = LicenceProduct.objects.get_or_create(
            name=name, defaults={"vendor": vendor}
        )

    versions_made = 0
    age = 400  # days: the oldest demo version was authorised this long ago
    for name, (vendor, licence, pattern, versions) in PRODUCTS.items():
        product, _ = SoftwareProduct.objects.get_or_create(
            name=name,
            defaults={
                "vendor": vendor,
                "licence_product": licence_products.get(licence),
            },
        )
        for number in versions:
            age -= 12
            versions_made += _seed_version(
                product, number, pattern.format(v=number), manager, now - timedelta(days=age)
            )

    locations = {
        code: Location.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in LOCATIONS.items()
    }
    models = {}
    for part, (manufacturer, name, kind) in HARDWARE_MODELS.items():
        model = HardwareModel.objects.filter(part_number__iexact=part).first()
        if model is None:
            model = HardwareModel.objects.create(
                manufacturer=manufacturer, name=name, part_number=part, kind=kind
            )
        models[part] = model

    active = {
        (part, code): quantity
        for part, code, quantity, status, _note, _days in RESERVATIONS.values()
        if status == ReservationStatus.RESERVED
    }
    stock = {}
    for (part, code), on_hand in STOCK.items():
        stock[part, code], created = Stock.objects.get_or_create(
            hardware_model=models[part],
            location=locations[code],
            defaults={"on_hand": on_hand, "reserved": active.get((part, code), 0)},
        )
        if created:
            # Reservations of a fresh stock row are part of its initial count.
            for reference, (r_part, r_code, quantity, status, note, days) in RESERVATIONS.items():
                if (r_part, r_code) != (part, code):
                    continue
                reservation, _ = Reservation.objects.get_or_create(
                    reference=reference,
                    stock=stock[part, code],
                    defaults={
                        "quantity": quantity,
                        "status": status,
                        "note": note,
                        "created_by": manager,
                        "closed_at": None
                        if status == ReservationStatus.RESERVED
                        else now - timedelta(days=days - 2),
                    },
                )
                Reservation.objects.filter(pk=reservation.pk).update(
                    created_at=now - timedelta(days=days)
                )
    stdout.write(
        f"DSL: {SoftwareProduct.objects.count()} products, {SoftwareVersion.objects.count()} "
        f"versions ({versions_made} new); DHS: {len(locations)} locations, {len(models)} "
        f"hardware models, {Stock.objects.count()} stock rows, "
        f"{Reservation.objects.filter(status=ReservationStatus.RESERVED).count()} active reservation(s)."
    )


def _seed_version(product, number, filename, manager, when) -> int:
    """Create one demo version (with its artefact and checks) unless it exists; rewrite a
    missing artefact file with the same bytes. Returns 1 when created."""
    key = (product.name, number)
    content = artefact_bytes(product.name, number)
    sha256 = hashlib.sha256(content).hexdigest()
    version = SoftwareVersion.objects.filter(product=product, version__iexact=number).first()
    if version is not None:
        if version.artefact and not version.artefact.storage.exists(version.artefact.name):
            stored = content if key not in QUARANTINED else content + b"\x00tampered"
            _store(version, filename, stored)
            version.save(update_fields=["artefact", "artefact_name"])
        return 0

    version = SoftwareVersion(
        product=product,
        version=number,
        release_notes=f"{product.name} {number}: demo release.",
        size=len(content),
        sha256=sha256,
        created_by=manager,
    )
    if key in QUARANTINED:
        # The stored bytes were altered after upload: what the integrity check found.
        tampered = content + b"\x00tampered"
        _store(version, filename, tampered)
    else:
        _store(version, filename, content)
    if key in DRAFT:
        version.status = VersionStatus.DRAFT
    else:
        version.status = VersionStatus.AUTHORISED
        version.authorised_by = manager
        version.authorised_at = when + timedelta(hours=4)
        version.status_changed_at = version.authorised_at
        version.last_checked_at = when + timedelta(hours=4)
    version.save()
    SoftwareVersion.objects.filter(pk=version.pk).update(created_at=when)

    if version.status == VersionStatus.AUTHORISED:
        check = ArtefactCheck.objects.create(
            version=version,
            result=CheckResult.OK,
            expected_sha256=sha256,
            found_sha256=sha256,
            found_size=len(content),
            detail="Checked when authorised.",
        )
        ArtefactCheck.objects.filter(pk=check.pk).update(checked_at=version.authorised_at)
    if key in QUARANTINED:
        found = hashlib.sha256(tampered).hexdigest()
        detail = (
            f"The stored artefact {version.artefact.name} has SHA-256 {found} "
            f"({len(tampered)} bytes), but {sha256} ({len(content)} bytes) was recorded at upload."
        )
        ArtefactCheck.objects.create(
            version=version,
            result=CheckResult.MISMATCH,
            expected_sha256=sha256,
            found_sha256=found,
            found_size=len(tampered),
            detail=detail,
        )
        quarantined_at = timezone.now()
        SoftwareVersion.objects.filter(pk=version.pk).update(
            status=VersionStatus.QUARANTINED,
            status_changed_at=quarantined_at,
            status_reason=f"Quarantined by the integrity check: {detail}",
            last_checked_at=quarantined_at,
        )
    return 1
