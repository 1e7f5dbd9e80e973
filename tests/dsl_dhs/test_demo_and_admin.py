"""Demo data (idempotent, the names other demos rely on, real artefacts) and the admin."""

import hashlib
from io import StringIO

import pytest
from django.urls import reverse

from dsl_dhs import demo
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
from dsl_dhs.selectors import stock_list
from dsl_dhs.tasks import software_versions_verify_task
from tests.factories import SoftwareVersionFactory, StockFactory, UserFactory

pytestmark = pytest.mark.django_db


def seed_twice():
    from releasemgmt.accounts import demo as accounts_demo

    accounts_demo.seed(StringIO())
    demo.seed(StringIO())
    first = {
        model: model.objects.count()
        for model in (
            LicenceProduct,
            SoftwareProduct,
            SoftwareVersion,
            ArtefactCheck,
            Location,
            HardwareModel,
            Stock,
            Reservation,
        )
    }
    out = StringIO()
    demo.seed(out)
    return first, out.getvalue()


def test_demo_seed_is_idempotent_and_complete():
    counts, output = seed_twice()
    for model, count in counts.items():
        assert model.objects.count() == count, model
    assert "0 new" in output

    assert set(LicenceProduct.objects.values_list("name", flat=True)) == {
        "Microsoft 365 Apps",
        "Adobe Acrobat Pro",
        "Oracle Database Enterprise",
        "Endpoint Protection Suite",
    }
    expected = {
        "Microsoft 365 Apps": ("Microsoft 365 Apps", {"2408", "2410", "2412"}),
        "Adobe Acrobat Pro": ("Adobe Acrobat Pro", {"24.1", "24.2"}),
        "Oracle Database": ("Oracle Database Enterprise", {"19.21", "19.22"}),
        "Endpoint Protection": ("Endpoint Protection Suite", {"8.1", "8.2"}),
        "Billing Service": (None, {"3.4.0", "3.5.0", "3.6.0"}),
        "Customer Portal": (None, {"1.9.0", "2.0.0"}),
        "Nginx": (None, {"1.26.2", "1.27.3"}),
    }
    for name, (licence, versions) in expected.items():
        product = SoftwareProduct.objects.get(name=name)
        assert (product.licence_product.name if product.licence_product else None) == licence
        assert set(product.versions.values_list("version", flat=True)) == versions

    statuses = dict(
        ((v.product.name, v.version), v.status)
        for v in SoftwareVersion.objects.select_related("product")
    )
    assert statuses.pop(("Customer Portal", "2.0.0")) == "draft"
    assert statuses.pop(("Nginx", "1.27.3")) == "quarantined"
    assert set(statuses.values()) == {"authorised"}
    manager = SoftwareVersion.objects.filter(status="authorised").values_list(
        "authorised_by__username", flat=True
    )
    assert set(manager) == {"config-manager"}

    nginx = SoftwareVersion.objects.get(product__name="Nginx", version="1.27.3")
    mismatch = nginx.checks.get(result="mismatch")
    assert mismatch.expected_sha256 == nginx.sha256 != mismatch.found_sha256
    assert "SHA-256" in nginx.status_reason

    assert dict(Location.objects.values_list("code", "name")) == {
        "dc-north": "Data centre North",
        "dc-south": "Data centre South",
        "hq": "Head office",
    }
    kinds = set(HardwareModel.objects.values_list("kind", flat=True))
    assert {"server", "workstation", "laptop", "network_device", "component"} <= kinds
    spares_in = Stock.objects.values("hardware_model").distinct().count()
    assert spares_in == HardwareModel.objects.count()
    assert {"dc-north", "hq"} <= set(Stock.objects.values_list("location__code", flat=True))
    assert any(row.units_free == 0 for row in stock_list())
    active = Reservation.objects.get(status="reserved")
    assert active.reference == "REL-2026-0003"
    assert active.stock.reserved == active.quantity


def test_demo_artefacts_are_real_files_with_their_real_checksum():
    seed_twice()
    for version in SoftwareVersion.objects.exclude(product__name="Nginx", version="1.27.3"):
        with version.artefact.open("rb") as stored:
            data = stored.read()
        assert hashlib.sha256(data).hexdigest() == version.sha256
        assert len(data) == version.size
    # the integrity task agrees with the demo: only the quarantined one differs
    assert software_versions_verify_task() == {"ok": 15, "mismatch": 1}


def test_demo_restores_a_deleted_artefact_file():
    seed_twice()
    version = SoftwareVersion.objects.get(product__name="Nginx", version="1.26.2")
    version.artefact.storage.delete(version.artefact.name)
    demo.seed(StringIO())
    version.refresh_from_db()
    with version.artefact.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == version.sha256


def test_admin_pages_load_and_service_owned_fields_are_read_only(client):
    client.force_login(UserFactory(superuser=True))
    version = SoftwareVersionFactory()
    stock = StockFactory()
    for model in (
        "licenceproduct",
        "softwareproduct",
        "softwareversion",
        "artefactcheck",
        "location",
        "hardwaremodel",
        "stock",
        "reservation",
    ):
        assert client.get(reverse(f"admin:dsl_dhs_{model}_changelist")).status_code == 200, model
    page = client.get(reverse("admin:dsl_dhs_softwareversion_change", args=[version.pk]))
    assert page.status_code == 200
    form_fields = page.context["adminform"].form.fields
    for field in ("status", "sha256", "size", "artefact"):
        assert field not in form_fields
    assert "release_notes" in form_fields
    stock_fields = (
        client.get(reverse("admin:dsl_dhs_stock_change", args=[stock.pk]))
        .context["adminform"]
        .form.fields
    )
    assert "reserved" not in stock_fields and "on_hand" not in stock_fields
    assert client.get(reverse("admin:dsl_dhs_reservation_add")).status_code == 403
    delete = client.get(reverse("admin:dsl_dhs_softwareversion_delete", args=[version.pk]))
    assert delete.status_code == 403
