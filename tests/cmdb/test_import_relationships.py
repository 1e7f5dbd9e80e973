"""CSV import of relationships: references to existing CIs, self links, duplicates and part-of
cycles — including cycles that only the file's own rows close."""

import pytest

from cmdb.imports.run import import_csv
from cmdb.models import Relationship
from releasemgmt.core.models import AuditEvent
from tests.factories import ConfigurationItemFactory, RelationshipFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(text, **kwargs):
    kwargs.setdefault("filename", "relationships.csv")
    return import_csv(kind="relationships", file=text.encode(), **kwargs)


def where(report):
    return {(p.row, p.column) for p in report.errors}


@pytest.fixture
def estate(db):
    return {
        name: ConfigurationItemFactory(identifier=name)
        for name in ("billing", "web-01", "web-02", "db-01", "rack-1", "row-a", "hall-1")
    }


def test_relationships_between_existing_cis_are_created_with_history(estate):
    user = UserFactory()
    RelationshipFactory(source=estate["billing"], target=estate["db-01"], kind="depends_on")
    report = run(
        "source,kind,target\n"
        "billing,runs_on,web-01\n"
        "BILLING,runs on,WEB-02\n"
        "billing,depends_on,db-01\n"
        "web-01,part_of,rack-1\n",
        by=user,
    )
    assert report.written, report.problems
    assert (report.created, report.unchanged) == (3, 1)
    assert set(
        Relationship.objects.values_list("source__identifier", "kind", "target__identifier")
    ) == {
        ("billing", "runs_on", "web-01"),
        ("billing", "runs_on", "web-02"),
        ("billing", "depends_on", "db-01"),
        ("web-01", "part_of", "rack-1"),
    }
    entry = Relationship.objects.get(kind="part_of").history.get()
    assert entry.history_change_reason == "import: relationships.csv" and entry.history_user == user
    assert AuditEvent.objects.get(action="cmdb.import").after["created"] == 3


def test_unknown_cis_are_named_and_nothing_is_written(estate):
    report = run(
        "source,kind,target\nbilling,runs_on,web-01\nbilling,runs_on,web-99\nghost,runs_on,web-01\n"
    )
    assert where(report) == {(3, "target"), (4, "source")}
    assert "No configuration item “web-99” exists" in report.errors[0].message
    assert "import the CIs first" in report.errors[0].message
    assert not Relationship.objects.exists()


@pytest.mark.parametrize(
    ("line", "column", "fragment"),
    [
        ("billing,runs_on,billing", "target", "cannot be related to itself"),
        ("billing,hosts,web-01", "kind", "is not one of installed_on, runs_on"),
        (",runs_on,web-01", "source", "Required"),
        ("billing,,web-01", "kind", "Required"),
        ("billing,runs_on,", "target", "Required"),
    ],
)
def test_each_rule_reports_its_row_and_column(estate, line, column, fragment):
    report = run(f"source,kind,target\nweb-01,part_of,rack-1\n{line}\n")
    assert where(report) == {(3, column)}
    assert fragment in report.errors[0].message
    assert not Relationship.objects.exists()


def test_a_duplicate_row_is_an_error_on_the_second(estate):
    report = run("source,kind,target\nbilling,runs_on,web-01\nBilling,Runs on,Web-01\n")
    assert where(report) == {(3, "target")}
    assert "row 2" in report.errors[0].message


def test_a_part_of_cycle_with_the_stored_relationships_is_refused(estate):
    RelationshipFactory(source=estate["rack-1"], target=estate["row-a"], kind="part_of")
    RelationshipFactory(source=estate["row-a"], target=estate["hall-1"], kind="part_of")
    report = run("source,kind,target\nhall-1,part_of,rack-1\n")
    assert where(report) == {(2, "target")}
    assert report.errors[0].message == (
        "rack-1 is already (indirectly) part of hall-1: this would make a cycle "
        "(hall-1 part of rack-1 part of row-a part of hall-1)."
    )


def test_a_part_of_cycle_formed_within_the_file_is_refused_on_the_closing_row(estate):
    report = run(
        "source,kind,target\n"
        "web-01,part_of,rack-1\n"
        "rack-1,part_of,row-a\n"
        "web-02,part_of,rack-1\n"
        "row-a,part_of,web-01\n"
    )
    assert where(report) == {(5, "target")}
    assert "cycle (row-a part of web-01 part of rack-1 part of row-a)" in report.errors[0].message
    assert not Relationship.objects.exists()


def test_other_kinds_may_loop(estate):
    report = run("source,kind,target\nweb-01,connected_to,web-02\nweb-02,connected_to,web-01\n")
    assert report.written and report.created == 2


def test_a_dry_run_writes_nothing(estate):
    report = run("source,kind,target\nbilling,runs_on,web-01\n", dry_run=True)
    assert report.ok and report.created == 1 and not report.written
    assert not Relationship.objects.exists()
