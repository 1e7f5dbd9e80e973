"""The demo estate: complete when the DSL/DHS names exist, skipped parts otherwise, and quick and
unchanged on a second run."""

import io
import time

import pytest

from cmdb import demo
from cmdb.choices import ErrorKind
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from cmdb.selectors import licences_with_usage
from tests.factories import (
    HardwareModelFactory,
    LicenceProductFactory,
    LocationFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PRODUCTS = {
    "Microsoft 365 Apps": ("Microsoft 365 Apps", ["2408", "2410", "2412"]),
    "Adobe Acrobat Pro": ("Adobe Acrobat Pro", ["24.1", "24.2"]),
    "Oracle Database": ("Oracle Database Enterprise", ["19.21", "19.22"]),
    "Endpoint Protection": ("Endpoint Protection Suite", ["8.1", "8.2"]),
    "Billing Service": (None, ["3.4.0", "3.5.0", "3.6.0"]),
    "Customer Portal": (None, ["1.9.0", "2.0.0"]),
    "Nginx": (None, ["1.26.2", "1.27.3"]),
}


@pytest.fixture
def dsl_names():
    """What the DSL/DHS demo creates, by the names the CMDB demo uses."""
    for name, (licence_product, versions) in PRODUCTS.items():
        product = SoftwareProductFactory(
            name=name,
            licence_product=LicenceProductFactory(name=licence_product)
            if licence_product
            else None,
        )
        for version in versions:
            status = {"2.0.0": "draft", "1.27.3": "quarantined"}.get(version, "authorised")
            SoftwareVersionFactory(
                product=product, version=version, status=status, with_artefact=False
            )
    for code in ("dc-north", "dc-south", "hq"):
        LocationFactory(code=code)
    HardwareModelFactory(kind="server")
    HardwareModelFactory(kind="workstation", name="OptiPlex", part_number="OPT-1")
    UserFactory(username="config-manager")


def seed():
    out = io.StringIO()
    demo.seed(out)
    return out.getvalue()


def test_full_estate(dsl_names):
    seed()
    assert ConfigurationItem.objects.filter(kind="server").count() == 20
    assert ConfigurationItem.objects.filter(kind="workstation", location__code="hq").count() == 200
    assert ConfigurationItem.objects.filter(kind__in=["service", "application"]).count() == 6
    assert Relationship.objects.filter(kind="runs_on").exists()
    assert Relationship.objects.filter(kind="part_of").exists()
    assert Relationship.objects.filter(kind="depends_on").exists()
    current = InstalledSoftware.objects.filter(removed_at__isnull=True)
    assert set(
        current.filter(ci__identifier__startswith="bill-").values_list(
            "version__product__name", "version__version"
        )
    ) == {("Billing Service", "3.5.0"), ("Oracle Database", "19.21")}
    assert current.filter(ci__identifier__startswith="web-", version__version="1.26.2").count() == 6
    assert current.filter(ci__identifier__startswith="db-", version__version="19.21").count() == 4
    assert current.filter(ci__kind="workstation", version__version="2410").count() == 200
    assert current.filter(ci__kind="workstation", version__version="8.2").count() == 200
    assert 0 < current.filter(product__name="Adobe Acrobat Pro").count() < 200

    usage = {licence.name: licence for licence in licences_with_usage()}
    m365 = usage["Microsoft 365 Apps — 2026"]
    assert (m365.seats, m365.low_seat_threshold, m365.seats_in_use, m365.is_low) == (
        205,
        10,
        200,
        True,
    )
    assert usage["Adobe Acrobat Pro — 2024"].is_expired
    assert usage["Endpoint Protection Suite — enterprise"].seats == 250
    oracle = usage["Oracle Database EE — processor"]
    assert (oracle.metric, oracle.seats, oracle.seats_in_use) == ("per_device", 12, 9)

    open_kinds = set(
        Discrepancy.objects.filter(resolved_at__isnull=True).values_list("kind", flat=True)
    )
    assert {
        ErrorKind.VERSION_MISMATCH,
        ErrorKind.DUPLICATE_IDENTITY,
        ErrorKind.RETIRED_TARGET,
        ErrorKind.LICENCE_EXPIRED,
    } <= open_kinds
    assert Discrepancy.objects.filter(resolved_at__isnull=False).count() == 1
    assert ConfigurationItem.objects.get(
        identifier="billing"
    ).history.get().history_user.username == ("config-manager")


def test_second_run_is_quick_and_changes_nothing(dsl_names, django_assert_max_num_queries):
    seed()
    counts = [
        model.objects.count()
        for model in (ConfigurationItem, Relationship, InstalledSoftware, Licence, Discrepancy)
    ]
    started = time.perf_counter()
    with django_assert_max_num_queries(40):
        seed()
    assert time.perf_counter() - started < 3
    assert counts == [
        model.objects.count()
        for model in (ConfigurationItem, Relationship, InstalledSoftware, Licence, Discrepancy)
    ]


def test_without_the_dsl_demo_the_rest_is_seeded():
    output = seed()
    assert "missing" in output
    assert ConfigurationItem.objects.count() == 226
    assert not InstalledSoftware.objects.exists() and not Licence.objects.exists()
    seed()
    assert ConfigurationItem.objects.count() == 226
