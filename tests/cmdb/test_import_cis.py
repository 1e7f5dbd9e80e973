"""CSV import of configuration items: create, update, unchanged, every validation rule with its
row and column, all-or-nothing, history and audit, and the bulk query budget."""

import textwrap

import pytest
from django.conf import settings

from cmdb.imports.run import import_csv
from cmdb.models import ConfigurationItem
from releasemgmt.core.models import AuditEvent
from tests.factories import (
    ConfigurationItemFactory,
    HardwareModelFactory,
    LocationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def run(text, *, kind="cis", **kwargs):
    kwargs.setdefault("filename", "cis.csv")
    return import_csv(kind=kind, file=textwrap.dedent(text).lstrip().encode(), **kwargs)


def where(report):
    """The (row, column) of every error, to assert exactly where problems were found."""
    return {(p.row, p.column) for p in report.errors}


def test_a_valid_file_creates_and_updates_cis_in_one_go():
    # given
    LocationFactory(code="dc-north")
    HardwareModelFactory(part_number="PE-R650")
    existing = ConfigurationItemFactory(identifier="web-01", name="Old name", owner="Team A")
    user = UserFactory()
    # when
    report = run(
        """
        identifier,name,kind,status,environment,location,hardware_model,owner,attr.os,attr.cpu_cores
        WEB-01,Web server 1,server,maintenance,staging,dc-north,pe-r650,Team B,Debian 12,16
        web-02,Web server 2,server,,,DC-NORTH,,,Debian 12,8
        billing,Billing,Service,active,production,,,,,
        """,
        by=user,
    )
    # then
    assert report.ok and report.written, report.problems
    assert (report.created, report.updated, report.unchanged) == (2, 1, 0)
    existing.refresh_from_db()
    assert existing.identifier == "web-01"  # matched case-insensitively; the stored one is kept
    assert existing.name == "Web server 1"
    assert existing.status == "maintenance" and existing.environment == "staging"
    assert existing.location.code == "dc-north" and existing.hardware_model.part_number == "PE-R650"
    assert existing.attributes == {"os": "Debian 12", "cpu_cores": 16}
    web2 = ConfigurationItem.objects.get(identifier="web-02")
    assert (web2.status, web2.environment, web2.location.code) == (
        "active",
        "production",
        "dc-north",
    )
    assert web2.attributes == {"os": "Debian 12", "cpu_cores": 8}
    assert ConfigurationItem.objects.get(identifier="billing").kind == "service"


def test_history_entries_say_import_and_who():
    user = UserFactory()
    ci = ConfigurationItemFactory(identifier="web-01", name="Old")
    run(
        """
        identifier,name,kind
        web-01,New,server
        web-02,Second,server
        """,
        by=user,
        filename="estate-2026.csv",
    )
    latest = ci.history.first()
    assert latest.history_type == "~" and latest.name == "New"
    assert latest.history_change_reason == "import: estate-2026.csv"
    assert latest.history_user == user
    created = ConfigurationItem.objects.get(identifier="web-02").history.get()
    assert created.history_type == "+" and created.history_change_reason.startswith("import")


def test_one_audit_event_per_import_with_the_counts_and_file_name():
    ConfigurationItemFactory(identifier="web-01", name="Same", attributes={})
    user = UserFactory()
    before = AuditEvent.objects.count()
    run(
        """
        identifier,name,kind
        web-01,Same,server
        web-02,New,server
        web-03,New,server
        """,
        by=user,
        filename="estate.csv",
    )
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("pk")
    assert event.action == "cmdb.import" and event.reason == "estate.csv"
    assert event.actor == user
    assert event.after["kind"] == "cis"
    assert (event.after["created"], event.after["updated"], event.after["unchanged"]) == (2, 0, 1)


def test_rows_that_change_nothing_are_counted_unchanged_and_not_written():
    ci = ConfigurationItemFactory(
        identifier="web-01", name="Web", owner="Ops", attributes={"os": "Debian 12"}
    )
    updated_at = ci.updated_at
    report = run(
        """
        identifier,name,kind,owner,attr.os
        web-01,Web,server,Ops,Debian 12
        """
    )
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
    ci.refresh_from_db()
    assert ci.updated_at == updated_at
    assert ci.history.count() == 1  # only the factory's creation


def test_a_column_left_out_keeps_the_value_and_a_blank_cell_clears_it():
    location = LocationFactory(code="hq")
    ci = ConfigurationItemFactory(
        identifier="ws-1",
        kind="workstation",
        owner="Desk",
        location=location,
        status="maintenance",
        attributes={"os": "Windows 11", "assigned_to": "ann"},
    )
    run(
        """
        identifier,name,kind,owner,status,attr.assigned_to
        ws-1,Workstation,workstation,,,
        """
    )
    ci.refresh_from_db()
    assert ci.owner == ""  # blank clears
    assert ci.location == location  # column left out: kept
    assert ci.status == "maintenance"  # blank status: unchanged for an existing CI
    assert ci.attributes == {"os": "Windows 11"}  # blank attr removes it, others kept


@pytest.mark.parametrize(
    ("line", "column", "fragment"),
    [
        (",Name,server", "identifier", "Required"),
        ("x" * 101 + ",Name,server", "identifier", "Too long"),
        ("a,,server", "name", "Required"),
        ("a," + "n" * 201 + ",server", "name", "Too long"),
        ("a,Name,", "kind", "Required"),
        ("a,Name,rack", "kind", "“rack” is not one of server, virtual_machine"),
        ("a,Name,server,sleeping", "status", "is not one of planned, active"),
        ("a,Name,server,,moon", "environment", "is not one of production"),
        ("a,Name,server,,,nowhere", "location", "No location with code “nowhere” exists"),
        ("a,Name,server,,,,XX-1", "hardware_model", "No hardware model with part number"),
        ("a,Name,server,,,,," + "o" * 201, "owner", "Too long"),
        ("a,Name,server,,,,,,,not-an-ip", "attr.ip_address", "Must be an IP address"),
        ("a,Name,server,,,,,,,,-3", "attr.cpu_cores", "Must be a whole number"),
        ("a,Name,service,,,,,,,,,,5", "attr.tier", "Must be a tier from 1 to 4"),
        ("a,Name,service,,,,,,Debian", "attr.os", "Not an attribute of a service"),
    ],
)
def test_each_rule_reports_its_row_and_column(line, column, fragment):
    LocationFactory(code="dc-north")
    header = (
        "identifier,name,kind,status,environment,location,hardware_model,owner,"
        "attr.os,attr.ip_address,attr.cpu_cores,attr.memory_gb,attr.tier"
    )
    report = run(f"{header}\nok-1,Fine,server\n{line}\n")
    assert where(report) == {(3, column)}, report.problems
    assert fragment in report.errors[0].message
    assert not report.written
    assert not ConfigurationItem.objects.exists()  # the valid row 2 was not written either


def test_the_message_lists_the_accepted_kinds():
    report = run("identifier,name,kind\nweb-01,Web,rack\n")
    assert str(report.errors[0]) == (
        "row 2, column kind: “rack” is not one of server, virtual_machine, workstation, laptop, "
        "network_device, storage, software, service, application."
    )


def test_choices_accept_labels_and_any_case():
    report = run(
        """
        identifier,name,kind,environment
        vm-1,VM,Virtual machine,Staging
        sw-1,Net,network-device,TEST
        """
    )
    assert report.ok, report.problems
    kinds = dict(ConfigurationItem.objects.values_list("identifier", "kind"))
    assert kinds == {"vm-1": "virtual_machine", "sw-1": "network_device"}


def test_a_duplicate_identifier_is_an_error_on_the_second_row():
    report = run(
        """
        identifier,name,kind
        web-01,One,server
        web-02,Two,server
        WEB-01,Again,server
        """
    )
    assert where(report) == {(4, "identifier")}
    assert "appears already in row 2" in report.errors[0].message
    assert not ConfigurationItem.objects.exists()


def test_a_stored_attribute_that_does_not_fit_a_new_kind_is_named():
    ConfigurationItemFactory(identifier="x-1", kind="server", attributes={"rack": "R1"})
    report = run("identifier,name,kind\nx-1,X,laptop\n")
    assert where(report) == {(2, "attr.rack")}
    assert "stored on the CI" in report.errors[0].message
    # clearing it in the same row makes the change valid
    report = run("identifier,name,kind,attr.rack\nx-1,X,laptop,\n")
    assert report.ok and report.written
    assert ConfigurationItem.objects.get(identifier="x-1").attributes == {}


def test_an_invalid_row_anywhere_means_nothing_is_written():
    ci = ConfigurationItemFactory(identifier="web-01", name="Kept")
    lines = [f"new-{n},New {n},server" for n in range(300)]
    lines[250] = "new-250,New,spaceship"
    report = run("identifier,name,kind\nweb-01,Changed,server\n" + "\n".join(lines) + "\n")
    assert where(report) == {(253, "kind")}
    assert report.created == 299 and report.updated == 1  # what would have been written
    assert ConfigurationItem.objects.count() == 1
    ci.refresh_from_db()
    assert ci.name == "Kept"
    assert not AuditEvent.objects.filter(action="cmdb.import").exists()


def test_a_dry_run_reports_the_counts_and_writes_nothing():
    ci = ConfigurationItemFactory(identifier="web-01", name="Kept")
    report = run(
        """
        identifier,name,kind
        web-01,Changed,server
        web-02,New,server
        """,
        dry_run=True,
    )
    assert report.ok and not report.written
    assert (report.created, report.updated) == (1, 1)
    assert ConfigurationItem.objects.count() == 1
    ci.refresh_from_db()
    assert ci.name == "Kept" and ci.history.count() == 1
    assert not AuditEvent.objects.filter(action="cmdb.import").exists()


def test_formula_looking_cells_are_stored_as_plain_text():
    report = run(
        """
        identifier,name,kind,owner,description
        web-01,"=HYPERLINK(""http://evil"",""x"")",server,+cmd|' /C calc'!A0,@SUM(1+1)
        """
    )
    assert report.ok, report.problems
    ci = ConfigurationItem.objects.get()
    assert ci.name == '=HYPERLINK("http://evil","x")'
    assert ci.owner == "+cmd|' /C calc'!A0"
    assert ci.description == "@SUM(1+1)"


def test_a_multi_line_description_keeps_the_row_numbers_of_the_records():
    report = run(
        'identifier,name,kind,description\nweb-01,Web,server,"line one\nline two"\nweb-02,Web,rack,\n'
    )
    # the quoted value spans two lines of text but is one row in a spreadsheet
    assert where(report) == {(3, "kind")}


def _many_cis(count):
    return "identifier,name,kind,owner,attr.os,attr.cpu_cores\n" + "".join(
        f"host-{n:05d},Host {n},server,Team,Debian 12,{n % 64}\n" for n in range(count)
    )


def test_two_thousand_rows_cost_a_small_fixed_number_of_queries(django_assert_max_num_queries):
    # SQLite caps a statement at 999 parameters in Django 5.2, so its batches hold ~80 rows;
    # PostgreSQL takes full batches of 500. Per-row writes would cost > 4,000 queries.
    budget = 60 if settings.USING_POSTGRES else 90
    with django_assert_max_num_queries(budget):
        report = run(_many_cis(2000))
    assert report.written and report.created == 2000
    assert ConfigurationItem.objects.count() == 2000
    assert ConfigurationItem.history.count() == 2000


def test_updating_two_thousand_rows_is_bulk_too(django_assert_max_num_queries):
    run(_many_cis(2000))
    text = _many_cis(2000).replace(",Team,", ",Other team,")
    budget = 60 if settings.USING_POSTGRES else 90
    with django_assert_max_num_queries(budget):
        report = run(text)
    assert report.written and report.updated == 2000
    assert set(ConfigurationItem.objects.values_list("owner", flat=True)) == {"Other team"}
    assert ConfigurationItem.history.filter(history_type="~").count() == 2000


def test_a_race_on_the_same_identifier_writes_nothing_and_says_so(monkeypatch):
    """Between the check and the write someone else creates the same identifier: the unique
    index refuses the insert, everything rolls back and the report says why."""
    from cmdb.imports.cis import CIImporter

    original = CIImporter.write

    def racing_write(self):
        ConfigurationItemFactory(identifier="WEB-02")
        original(self)

    monkeypatch.setattr(CIImporter, "write", racing_write)
    report = run("identifier,name,kind\nweb-01,A,server\nweb-02,B,server\n")
    assert not report.written
    assert "changed while this file was being imported" in report.errors[0].message
    assert not ConfigurationItem.objects.filter(identifier="web-01").exists()
