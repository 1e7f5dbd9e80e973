"""CSV import of installed software: the same rules as ``installed_software_record`` — the
previous version closed, licences allocated with seats counted (per seat / per device / site),
no free seat → imported with a warning and a licence_missing error — in bulk."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from cmdb.imports.run import import_csv
from cmdb.models import Discrepancy, InstalledSoftware
from cmdb.services.software import installed_software_record
from tests.factories import (
    ConfigurationItemFactory,
    DiscrepancyFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    LicenceProductFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HEADER = "ci,product,version,licence,installed_at\n"


def run(text, **kwargs):
    kwargs.setdefault("filename", "software.csv")
    return import_csv(kind="installed-software", file=text.encode(), **kwargs)


def where(report):
    return {(p.row, p.column) for p in report.errors}


def version(product, number, status="authorised"):
    return SoftwareVersionFactory(
        product=product, version=number, status=status, with_artefact=False
    )


@pytest.fixture
def office(db):
    """A licensed product (2 per-device seats) and three workstations."""
    lp = LicenceProductFactory(name="Office")
    product = SoftwareProductFactory(name="Office Apps", licence_product=lp)
    licence = LicenceFactory(licence_product=lp, name="Office 2026", seats=2, metric="per_device")
    return {
        "lp": lp,
        "product": product,
        "v1": version(product, "2408"),
        "v2": version(product, "2410"),
        "licence": licence,
        "cis": [
            ConfigurationItemFactory(workstation=True, identifier=f"ws-{n}") for n in (1, 2, 3)
        ],
    }


def test_new_installations_are_recorded_with_an_allocated_licence(office):
    user = UserFactory()
    nginx = SoftwareProductFactory(name="Nginx")
    version(nginx, "1.26.2")
    web = ConfigurationItemFactory(identifier="web-01")
    report = run(
        HEADER + "ws-1,office apps,2408,,2026-01-10\nweb-01,Nginx,1.26.2,,\n",
        by=user,
        filename="estate.csv",
    )
    assert report.written, report.problems
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    office_row = InstalledSoftware.objects.get(ci=office["cis"][0])
    assert office_row.licence == office["licence"]
    assert office_row.installed_at == datetime(2026, 1, 10, tzinfo=UTC)
    assert (office_row.source, office_row.source_reference, office_row.recorded_by) == (
        "import",
        "estate.csv",
        user,
    )
    nginx_row = InstalledSoftware.objects.get(ci=web)
    assert nginx_row.licence is None  # a product without a licence product needs none
    assert abs(nginx_row.installed_at - timezone.now()) < timedelta(minutes=1)


def test_an_upgrade_closes_the_previous_version_and_keeps_its_seat(office):
    ws = office["cis"][0]
    installed_software_record(ci=ws, version=office["v1"], by=None)
    previous = InstalledSoftware.objects.get(ci=ws)
    assert previous.licence == office["licence"]
    report = run(HEADER + "ws-1,Office Apps,2410,,\n")
    assert (report.created, report.updated) == (0, 1), report.problems
    previous.refresh_from_db()
    current = InstalledSoftware.objects.get(ci=ws, removed_at__isnull=True)
    assert current.version == office["v2"]
    assert previous.removed_at == current.installed_at
    assert current.licence == office["licence"]


def test_the_installed_version_again_is_unchanged(office):
    installed_software_record(ci=office["cis"][0], version=office["v1"], by=None)
    report = run(HEADER + "ws-1,Office Apps,2408,,\n")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
    assert InstalledSoftware.objects.count() == 1


def test_two_versions_in_one_file_are_applied_in_order(office):
    report = run(HEADER + "ws-1,Office Apps,2408,,2026-01-01\nws-1,Office Apps,2410,,2026-02-01\n")
    assert report.written, report.problems
    rows = list(InstalledSoftware.objects.filter(ci=office["cis"][0]).order_by("installed_at"))
    assert [r.version.version for r in rows] == ["2408", "2410"]
    assert rows[0].removed_at == rows[1].installed_at and rows[1].removed_at is None
    assert rows[0].licence == rows[1].licence == office["licence"]


def test_no_free_seat_imports_with_a_warning_and_a_licence_missing_error(office):
    report = run(
        HEADER + "ws-1,Office Apps,2408,,\nws-2,Office Apps,2408,,\nws-3,Office Apps,2408,,\n"
    )
    assert report.written and report.ok
    assert [(w.row, w.column) for w in report.warnings] == [(4, "licence")]
    assert "No valid licence of Office has a free seat" in report.warnings[0].message
    ws3 = InstalledSoftware.objects.get(ci=office["cis"][2])
    assert ws3.licence is None
    error = Discrepancy.objects.get()
    assert (error.kind, error.category, error.source) == ("licence_missing", "licence", "import")
    assert error.ci == office["cis"][2] and error.software_version == office["v1"]
    assert error.reference == "software.csv"
    assert error.fingerprint == f"licence_missing:ci={ws3.ci_id}:product={office['product'].pk}"


def test_an_open_licence_missing_error_is_not_recorded_twice(office):
    office["licence"].seats = 0
    office["licence"].save()
    ws = office["cis"][0]
    DiscrepancyFactory(
        kind="licence_missing",
        ci=ws,
        fingerprint=f"licence_missing:ci={ws.pk}:product={office['product'].pk}",
    )
    report = run(HEADER + "ws-1,Office Apps,2408,,\n")
    assert len(report.warnings) == 1
    assert Discrepancy.objects.count() == 1


def test_a_per_device_licence_counts_a_ci_once(office):
    # a second product on the same licence product: ws-1 already holds a device seat
    viewer = SoftwareProductFactory(name="Office Viewer", licence_product=office["lp"])
    version(viewer, "1.0")
    report = run(
        HEADER + "ws-1,Office Apps,2408,,\nws-2,Office Apps,2408,,\nws-1,Office Viewer,1.0,,\n"
    )
    assert report.ok and not report.warnings, report.problems
    assert InstalledSoftware.objects.filter(licence=office["licence"]).count() == 3


def test_a_per_seat_licence_counts_every_installation(office):
    office["licence"].metric = "per_seat"
    office["licence"].save()
    viewer = SoftwareProductFactory(name="Office Viewer", licence_product=office["lp"])
    version(viewer, "1.0")
    report = run(
        HEADER + "ws-1,Office Apps,2408,,\nws-1,Office Viewer,1.0,,\nws-2,Office Apps,2408,,\n"
    )
    assert [w.row for w in report.warnings] == [4]


def test_seats_in_use_in_the_database_count_and_expired_licences_are_skipped(office):
    InstalledSoftwareFactory(
        ci=ConfigurationItemFactory(), version=office["v1"], licence=office["licence"]
    )
    LicenceFactory(
        licence_product=office["lp"], name="Old", seats=100, valid_until=date(2020, 12, 31)
    )
    site = LicenceFactory(licence_product=office["lp"], name="Site", metric="site", seats=None)
    report = run(HEADER + "ws-1,Office Apps,2408,,\nws-2,Office Apps,2408,,\n")
    assert not report.warnings
    licences = dict(
        InstalledSoftware.objects.filter(ci__in=office["cis"][:2]).values_list(
            "ci__identifier", "licence__name"
        )
    )
    # the 2-seat licence ends never and has one seat left; then the site licence takes the rest
    assert licences == {"ws-1": "Office 2026", "ws-2": site.name}


def _shape(rows):
    return sorted((ci, number, licence, removed is None) for ci, number, licence, removed in rows)


def test_the_allocation_matches_the_service(office):
    """Same estate, same installations: the import and installed_software_record allocate alike."""
    lp2 = LicenceProductFactory(name="Other")
    rows = [("ws-1", "2408"), ("ws-2", "2408"), ("ws-3", "2408"), ("ws-1", "2410")]
    for identifier, number in rows:
        ci = next(c for c in office["cis"] if c.identifier == identifier)
        v = office["v1"] if number == "2408" else office["v2"]
        installed_software_record(ci=ci, version=v, by=None)
    by_service = _shape(
        InstalledSoftware.objects.values_list(
            "ci__identifier", "version__version", "licence_id", "removed_at"
        )
    )
    # the same again through an import, on a fresh copy of the licences
    InstalledSoftware.objects.all().delete()
    Discrepancy.objects.all().delete()
    assert lp2.pk  # an unrelated licence product changes nothing
    report = run(HEADER + "".join(f"{i},Office Apps,{n},,\n" for i, n in rows))
    assert report.written
    by_import = _shape(
        InstalledSoftware.objects.values_list(
            "ci__identifier", "version__version", "licence_id", "removed_at"
        )
    )
    assert by_import == by_service
    assert Discrepancy.objects.filter(kind="licence_missing").count() == 1


def test_a_named_licence_must_belong_to_the_products_licence_product(office):
    other = LicenceFactory(name="Acrobat 2026")
    report = run(
        HEADER
        + "ws-1,Office Apps,2408,office 2026,\n"
        + f"ws-2,Office Apps,2408,{other.name},\n"
        + "ws-3,Office Apps,2408,No Such Licence,\n"
    )
    assert where(report) == {(3, "licence"), (4, "licence")}
    messages = [p.message for p in report.errors]
    assert (
        "“Acrobat 2026” is a licence of" in messages[0]
        and "needs a licence of Office" in messages[0]
    )
    assert "No licence named “No Such Licence” exists" in messages[1]


def test_a_licence_named_for_a_product_that_needs_none_is_an_error(office):
    nginx = SoftwareProductFactory(name="Nginx")
    version(nginx, "1.26.2")
    ConfigurationItemFactory(identifier="web-01")
    report = run(HEADER + "web-01,Nginx,1.26.2,Office 2026,\n")
    assert where(report) == {(2, "licence")}
    assert "Nginx needs no licence" in report.errors[0].message


def test_an_explicit_licence_is_used_even_when_another_has_room(office):
    spare = LicenceFactory(licence_product=office["lp"], name="Spare", seats=50)
    report = run(HEADER + "ws-1,Office Apps,2408,Spare,\n")
    assert report.written
    assert InstalledSoftware.objects.get().licence == spare


@pytest.mark.parametrize(
    ("line", "column", "fragment"),
    [
        ("ws-9,Office Apps,2408,,", "ci", "No configuration item “ws-9” exists"),
        ("ws-1,Visio,2408,,", "product", "No software product “Visio” exists"),
        ("ws-1,Office Apps,1999,,", "version", "Office Apps has no version “1999” in the DSL"),
        ("ws-1,Office Apps,2412,,", "version", "is quarantined: only authorised or retired"),
        ("ws-1,Office Apps,2501,,", "version", "is draft (awaiting authorisation)"),
        ("ws-1,Office Apps,2408,,yesterday", "installed_at", "Must be an ISO 8601 date"),
        ("ws-1,Office Apps,2408,,2999-01-01", "installed_at", "Is in the future"),
        (",Office Apps,2408,,", "ci", "Required"),
        ("ws-1,,2408,,", "product", "Required"),
        ("ws-1,Office Apps,,,", "version", "Required"),
    ],
)
def test_each_rule_reports_its_row_and_column(office, line, column, fragment):
    version(office["product"], "2412", status="quarantined")
    version(office["product"], "2501", status="draft")
    report = run(HEADER + "ws-2,Office Apps,2408,,\n" + line + "\n")
    assert where(report) == {(3, column)}, report.problems
    assert fragment in report.errors[0].message
    assert not InstalledSoftware.objects.exists()
    assert not Discrepancy.objects.exists()


def test_a_retired_version_may_be_recorded(office):
    version(office["product"], "2312", status="retired")
    assert run(HEADER + "ws-1,Office Apps,2312,,2025-06-01\n").written


def test_an_installation_cannot_start_before_the_one_it_replaces(office):
    installed_software_record(
        ci=office["cis"][0],
        version=office["v1"],
        by=None,
        installed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    report = run(HEADER + "ws-1,Office Apps,2410,,2026-02-01T00:00:00+00:00\n")
    assert where(report) == {(2, "installed_at")}
    assert (
        "before the installation it replaces (Office Apps 2408 on ws-1, since 2026-03-01"
        in report.errors[0].message
    )


def test_a_dry_run_records_nothing_not_even_the_licence_errors(office):
    office["licence"].seats = 0
    office["licence"].save()
    report = run(HEADER + "ws-1,Office Apps,2408,,\n", dry_run=True)
    assert report.ok and len(report.warnings) == 1 and report.created == 1
    assert not InstalledSoftware.objects.exists() and not Discrepancy.objects.exists()


def test_two_thousand_installations_cost_a_small_fixed_number_of_queries(
    office, django_assert_max_num_queries
):
    from django.conf import settings

    from cmdb.models import ConfigurationItem

    ConfigurationItem.objects.bulk_create(
        [
            ConfigurationItem(identifier=f"pc-{n:04d}", name="PC", kind="workstation")
            for n in range(2000)
        ]
    )
    office["licence"].seats = 1990
    office["licence"].save()
    text = HEADER + "".join(f"pc-{n:04d},Office Apps,2408,,\n" for n in range(2000))
    # SQLite's 999-parameter statements in Django 5.2 make its batches smaller than PostgreSQL's.
    with django_assert_max_num_queries(40 if settings.USING_POSTGRES else 60):
        report = run(text)
    assert report.written and report.created == 2000
    assert len(report.warnings) == 10
    assert Discrepancy.objects.filter(kind="licence_missing").count() == 10
    with django_assert_max_num_queries(40 if settings.USING_POSTGRES else 60):
        report = run(text.replace(",2408,", ",2410,"))
    assert report.updated == 2000
    assert (
        InstalledSoftware.objects.filter(removed_at__isnull=True, version=office["v2"]).count()
        == 2000
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_racing_for_the_last_seat_take_it_once():
    """Each import locks the licences it allocates from: the second waits for the first to
    commit, sees its installation, and records its own without a licence."""
    import threading

    from django.db import connection

    lp = LicenceProductFactory(name="Racing")
    product = SoftwareProductFactory(name="Racer", licence_product=lp)
    version(product, "1")
    licence = LicenceFactory(licence_product=lp, name="One seat", seats=1, metric="per_seat")
    for identifier in ("a-1", "b-1"):
        ConfigurationItemFactory(identifier=identifier)
    barrier = threading.Barrier(2)
    reports = {}

    def worker(identifier):
        try:
            barrier.wait(timeout=10)
            reports[identifier] = run(HEADER + f"{identifier},Racer,1,,\n")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in ("a-1", "b-1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(report.written for report in reports.values())
    assert InstalledSoftware.objects.filter(licence=licence).count() == 1
    assert InstalledSoftware.objects.filter(licence__isnull=True).count() == 1
    assert sorted(len(report.warnings) for report in reports.values()) == [0, 1]
    assert Discrepancy.objects.filter(kind="licence_missing", source="import").count() == 1
