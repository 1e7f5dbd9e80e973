"""CSV import of licences: known by licence product + name, created or updated, with seats,
validity and metric rules, and a warning when fewer seats are bought than are in use."""

from datetime import date

import pytest

from cmdb.imports.run import import_csv
from cmdb.models import Licence
from tests.factories import (
    ConfigurationItemFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    LicenceProductFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HEADER = (
    "licence_product,name,metric,seats,valid_from,valid_until,vendor,contract_reference,"
    "low_seat_threshold,notes\n"
)


def run(text, **kwargs):
    kwargs.setdefault("filename", "licences.csv")
    return import_csv(kind="licences", file=text.encode(), **kwargs)


def where(report):
    return {(p.row, p.column) for p in report.errors}


@pytest.fixture
def office(db):
    return LicenceProductFactory(name="Microsoft 365 Apps")


def test_licences_are_created_and_updated(office):
    user = UserFactory()
    stored = LicenceFactory(licence_product=office, name="M365 — 2026", seats=100, vendor="MS")
    report = run(
        HEADER
        + "microsoft 365 apps,m365 — 2026,per_device,205,2026-01-01,2026-12-31,Microsoft,EA-1,10,\n"
        + "Microsoft 365 Apps,M365 — lab,site,,,,,,,Lab only\n",
        by=user,
    )
    assert report.written, report.problems
    assert (report.created, report.updated) == (1, 1)
    stored.refresh_from_db()
    assert stored.name == "M365 — 2026"  # the stored spelling is kept
    assert (stored.seats, stored.valid_from, stored.valid_until) == (
        205,
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert (stored.vendor, stored.contract_reference, stored.low_seat_threshold) == (
        "Microsoft",
        "EA-1",
        10,
    )
    assert stored.history.first().history_change_reason == "import: licences.csv"
    lab = Licence.objects.get(name="M365 — lab")
    assert (lab.metric, lab.seats, lab.low_seat_threshold, lab.notes) == (
        "site",
        None,
        0,
        "Lab only",
    )
    assert lab.history.get().history_user == user


def test_left_out_columns_keep_and_blank_defaults_stay(office):
    stored = LicenceFactory(
        licence_product=office,
        name="M365",
        metric="per_seat",
        seats=9,
        low_seat_threshold=3,
        vendor="MS",
    )
    report = run(
        "licence_product,name,metric,seats,low_seat_threshold\nMicrosoft 365 Apps,M365,,12,\n"
    )
    assert report.updated == 1, report.problems
    stored.refresh_from_db()
    assert (stored.metric, stored.seats, stored.low_seat_threshold, stored.vendor) == (
        "per_seat",
        12,
        3,
        "MS",
    )


def test_an_identical_row_is_unchanged(office):
    LicenceFactory(licence_product=office, name="M365", seats=10, low_seat_threshold=2)
    report = run("licence_product,name,seats,low_seat_threshold\nMicrosoft 365 Apps,M365,10,2\n")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)


@pytest.mark.parametrize(
    ("line", "column", "fragment"),
    [
        ("Visio,V,per_device,5,,,,,,", "licence_product", "No licence product “Visio” exists"),
        (",V,per_device,5,,,,,,", "licence_product", "Required"),
        ("Microsoft 365 Apps,,per_device,5,,,,,,", "name", "Required"),
        ("Microsoft 365 Apps,V,per_cpu,5,,,,,,", "metric", "is not one of per_seat, per_device"),
        ("Microsoft 365 Apps,V,per_device,,,,,,,", "seats", "only site licences have none"),
        ("Microsoft 365 Apps,V,per_device,-5,,,,,,", "seats", "whole number ≥ 0"),
        ("Microsoft 365 Apps,V,per_device,5.5,,,,,,", "seats", "whole number ≥ 0"),
        ("Microsoft 365 Apps,V,per_device,99999999999,,,,,,", "seats", "whole number ≥ 0"),
        ("Microsoft 365 Apps,V,per_device,5,01/02/2026,,,,,", "valid_from", "YYYY-MM-DD"),
        ("Microsoft 365 Apps,V,per_device,5,2026-02-30,,,,,", "valid_from", "YYYY-MM-DD"),
        (
            "Microsoft 365 Apps,V,per_device,5,2026-06-01,2026-05-31,,,,",
            "valid_until",
            "Ends before",
        ),
        ("Microsoft 365 Apps,V,per_device,5,,,,,lots,", "low_seat_threshold", "whole number"),
        (
            "Microsoft 365 Apps,V,per_device,5,,,," + "c" * 101 + ",,",
            "contract_reference",
            "Too long",
        ),
        ("Microsoft 365 Apps,M365,per_device,5,,,,,,", "name", "is in row 2 already"),
    ],
)
def test_each_rule_reports_its_row_and_column(office, line, column, fragment):
    report = run(HEADER + "Microsoft 365 Apps,M365,per_device,5,,,,,,\n" + line + "\n")
    assert where(report) == {(3, column)}, report.problems
    assert fragment in report.errors[0].message
    assert not Licence.objects.exists()


def test_two_stored_licences_with_the_same_name_are_ambiguous(office):
    LicenceFactory(licence_product=office, name="Twin")
    LicenceFactory(licence_product=office, name="twin")
    report = run("licence_product,name,seats\nMicrosoft 365 Apps,Twin,4\n")
    assert where(report) == {(2, "name")}
    assert "rename one" in report.errors[0].message


def test_fewer_seats_than_in_use_is_a_warning_not_an_error(office):
    licence = LicenceFactory(licence_product=office, name="M365", seats=10)
    version = SoftwareVersionFactory(
        product=SoftwareProductFactory(licence_product=office), with_artefact=False
    )
    for _ in range(3):
        InstalledSoftwareFactory(ci=ConfigurationItemFactory(), version=version, licence=licence)
    report = run("licence_product,name,seats\nMicrosoft 365 Apps,M365,2\n")
    assert report.written
    assert [(w.row, w.column) for w in report.warnings] == [(2, "seats")]
    assert "3 seats are in use, more than the 2 given" in report.warnings[0].message
    licence.refresh_from_db()
    assert licence.seats == 2


def test_a_dry_run_writes_nothing(office):
    report = run("licence_product,name,seats\nMicrosoft 365 Apps,M365,2\n", dry_run=True)
    assert report.ok and report.created == 1 and not Licence.objects.exists()
