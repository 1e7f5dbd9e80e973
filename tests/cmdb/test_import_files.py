"""What makes a file readable: encoding, delimiter, header, row shape and limits — and a fuzz
test that no input, however broken, raises instead of reporting."""

import random

import pytest
from django.test import override_settings

from cmdb.imports import reading
from cmdb.imports.base import Problem
from cmdb.imports.run import IMPORTERS, import_csv
from cmdb.models import ConfigurationItem

pytestmark = pytest.mark.django_db


def run(data, kind="cis", **kwargs):
    kwargs.setdefault("filename", "file.csv")
    return import_csv(kind=kind, file=data.encode() if isinstance(data, str) else data, **kwargs)


def only_message(report):
    assert len(report.problems) == 1, report.problems
    return report.problems[0]


def test_utf8_with_a_bom_crlf_and_semicolons_is_read():
    data = "\ufeffIdentifier;Name;Kind;Description\r\nweb-01;Serveur Web é;server;a, b\r\n"
    report = run(data.encode("utf-8"))
    assert report.written, report.problems
    ci = ConfigurationItem.objects.get()
    assert (ci.identifier, ci.name, ci.description) == ("web-01", "Serveur Web é", "a, b")


def test_columns_are_case_insensitive_in_any_order_and_cells_are_trimmed():
    report = run(" KIND , name ,IDENTIFIER\n server , Web ,  web-01 \n")
    assert report.written, report.problems
    assert ConfigurationItem.objects.get().identifier == "web-01"


def test_latin1_is_refused_naming_the_byte_and_line():
    problem = only_message(run("identifier,name,kind\nweb-01,Caf\xe9,server\n".encode("latin-1")))
    assert problem.row is None
    assert "not UTF-8 text: byte 0xE9 on line 2" in problem.message
    assert "CSV UTF-8" in problem.message


def test_utf16_is_refused():
    problem = only_message(run("identifier,name,kind\n".encode("utf-16")))
    assert "UTF-16" in problem.message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00rest-of-a-workbook", "Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel", "old-style Excel"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"identifier,name,kind\nweb\x00-01,x,server\n", "NUL byte on line 2"),
    ],
)
def test_binary_files_are_named_for_what_they_are(data, fragment):
    assert fragment in only_message(run(data)).message


@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf"])
def test_an_empty_file_says_so(data):
    assert only_message(run(data)).message.startswith("The file is empty")


def test_a_header_without_rows_says_so():
    report = run("identifier,name,kind\n\n")
    assert only_message(report).message == "The file has a header row but no data rows."
    assert not report.written


def test_unknown_columns_are_named_in_one_file_level_problem():
    report = run("identifier,name,kind,colour,attr.flavour,attr.os\nweb-01,Web,server,red,x,y\n")
    problem = only_message(report)
    assert (problem.row, problem.column) == (1, "colour, attr.flavour")
    assert problem.message.startswith("Unknown columns: colour, attr.flavour.")
    assert "identifier, name, kind, status" in problem.message
    assert not ConfigurationItem.objects.exists()


def test_missing_required_columns_are_named():
    problem = only_message(run("identifier,owner\nweb-01,Ops\n"))
    assert (problem.row, problem.column) == (1, "name, kind")
    assert problem.message == "Missing required columns: name, kind."


def test_a_column_given_twice_is_refused():
    problem = only_message(run("identifier,name,kind,Name\nweb-01,a,server,b\n"))
    assert (problem.row, problem.column) == (1, "name")


def test_attribute_columns_belong_to_cis_only():
    report = run("source,kind,target,attr.os\na,runs_on,b,x\n", kind="relationships")
    assert only_message(report).message.startswith("Unknown column: attr.os.")


def test_malformed_quotes_name_the_row():
    problem = only_message(run('identifier,name,kind\nweb-01,ok,server\nweb-02,"bad"x,server\n'))
    assert problem.row == 3 and "malformed" in problem.message


def test_an_unterminated_quote_is_reported_not_raised():
    report = run('identifier,name,kind\nweb-01,"never closed,server\n')
    assert report.problems and not report.ok


def test_extra_values_are_an_error_but_trailing_empty_cells_are_not():
    report = run("identifier,name,kind\nweb-01,Web,server,,\nweb-02,Web, Inc.,server\n")
    problem = only_message(report)
    assert problem.row == 3
    assert (
        "4 values but the header has 3 columns; put quotes around a value that contains a comma"
        in problem.message
    )


def test_missing_trailing_cells_are_blank():
    report = run("identifier,name,kind,owner,description\nweb-01,Web,server\n")
    assert report.written, report.problems


def test_an_unnamed_column_is_ignored_unless_it_holds_a_value():
    assert run("identifier,name,kind,\nweb-01,Web,server,\n").written
    problem = only_message(run("identifier,,name,kind\nweb-02,oops,Web,server\n"))
    assert problem.row == 2 and "column with no name" in problem.message


def test_blank_lines_are_skipped_but_keep_their_numbers():
    report = run("identifier,name,kind\n\nweb-01,Web,server\n\n\nweb-02,Web,rack\n")
    assert [(p.row, p.column) for p in report.errors] == [(6, "kind")]


def test_a_very_long_value_is_reported():
    report = run("identifier,name,kind,description\nweb-01,Web,server," + "x" * 200_000 + "\n")
    assert not report.ok and "longer than" in report.errors[0].message


def test_a_long_description_within_the_csv_limit_is_stored():
    assert run(
        "identifier,name,kind,description\nweb-01,Web,server," + "x" * 100_000 + "\n"
    ).written


def test_more_rows_than_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(reading, "MAX_ROWS", 5)
    rows = "".join(f"h-{n},H,server\n" for n in range(6))
    assert "more than 5 data rows" in only_message(run("identifier,name,kind\n" + rows)).message
    assert run("identifier,name,kind\n" + rows[: rows.index("h-5")]).written


@override_settings(CMDB_IMPORT_MAX_BYTES=1000)
def test_a_file_over_the_size_limit_is_refused_unread():
    class Unbounded:
        """A stream that would never end: the importer must stop reading past the limit."""

        read_sizes = []

        def read(self, size=-1):
            assert size > 0
            self.read_sizes.append(size)
            return b"x" * size

    report = run(Unbounded())
    assert report.too_large and not report.written
    assert (
        only_message(report).message
        == "The file is larger than 1,000 bytes; split it into smaller files."
    )
    assert Unbounded.read_sizes == [1001]


def test_the_default_limit_is_ten_megabytes():
    data = b"identifier,name,kind\n" + b"x" * (10 * 1024 * 1024)
    assert run(data).too_large
    assert not run(data[: 10 * 1024 * 1024]).too_large


def test_problems_read_like_sentences():
    report = run("identifier,name,kind\nweb-01,Web,rack\n")
    assert str(report.errors[0]).startswith("row 2, column kind: “rack” is not one of server")
    assert str(Problem(None, "", "The file is empty.")) == "file: The file is empty."
    assert str(Problem(4, "licence", "No seat.", "warning")) == (
        "warning: row 4, column licence: No seat."
    )


TOKENS = [
    "identifier", "name", "kind", "source", "target", "ci", "product", "version", "licence",
    "licence_product", "seats", "metric", "installed_at", "valid_from", "attr.os", "attr.tier",
    "server", "service", "runs_on", "part_of", "per_seat", "site", "2026-01-01", "-1", "0",
    "99999999999999999999", "web-01", "=1+1", "@x", "é", "\u202e", "\ufeff", "😀", "", " ",
]  # fmt: skip
SEPARATORS = [",", ";", "\n", "\r\n", '"', '""', "\t", "\r"]


def _csvish(rng) -> bytes:
    parts = []
    for _ in range(rng.randint(0, 60)):
        parts.append(rng.choice(TOKENS) if rng.random() < 0.6 else rng.choice(SEPARATORS))
    return "".join(parts).encode("utf-8")


@pytest.mark.parametrize("kind", list(IMPORTERS))
def test_fuzz_never_raises(kind):
    """Random bytes and random CSV-ish text, dry run and real: always a report, never a raise."""
    rng = random.Random(f"cmdb-import-{kind}")
    for attempt in range(150):
        data = rng.randbytes(rng.randint(0, 400)) if attempt % 3 == 0 else _csvish(rng)
        for dry_run in (True, False):
            report = run(data, kind=kind, dry_run=dry_run)
            assert isinstance(report.problems, list)
            assert report.ok or not report.written


PLAUSIBLE = {
    "identifier": ["web-01", "web-02", "new-1", "WEB-01"],
    "name": ["Web", "=1+1", "é"],
    "kind": ["server", "service"],
    "source": ["web-01", "web-02"],
    "target": ["web-01", "web-02"],
    "ci": ["web-01", "web-02"],
    "product": ["server"],
    "version": ["0"],
    "licence": ["", "site"],
    "licence_product": ["Lic"],
    "metric": ["site", "per_seat", ""],
    "seats": ["", "3", "0"],
    "installed_at": ["", "2026-01-01", "2025-12-31T23:59:59+01:00"],
    "valid_from": ["", "2026-01-01"],
    "valid_until": ["", "2026-12-31"],
    "attr.os": ["", "", "", "Debian"],
    "attr.tier": ["", "", "", "2"],
    "attr.ip_address": ["", "10.0.0.1", "::1"],
}


@pytest.mark.parametrize("kind", list(IMPORTERS))
def test_fuzz_rows_under_a_valid_header_never_raise(kind):
    """A correct header and cells that are mostly plausible, sometimes junk: every row check
    and the writes run, and still nothing raises."""
    from tests.factories import (
        ConfigurationItemFactory,
        LicenceFactory,
        LicenceProductFactory,
        SoftwareProductFactory,
        SoftwareVersionFactory,
    )

    ConfigurationItemFactory(identifier="web-01")
    ConfigurationItemFactory(identifier="web-02", service=True)
    lp = LicenceProductFactory(name="Lic")
    product = SoftwareProductFactory(name="server", licence_product=lp)
    SoftwareVersionFactory(product=product, version="0", with_artefact=False)
    LicenceFactory(licence_product=lp, name="site", metric="site", seats=None)
    columns = [c.name for c in IMPORTERS[kind].columns]
    if IMPORTERS[kind].attribute_columns:
        columns += ["attr.os", "attr.tier", "attr.ip_address"]
    plausible = {**PLAUSIBLE}
    if kind == "relationships":
        plausible["kind"] = ["runs_on", "part_of", "depends_on"]
    rng = random.Random(f"cmdb-import-rows-{kind}")
    outcomes = set()
    for _ in range(80):
        lines = [",".join(columns)]
        for _ in range(rng.randint(1, 4)):
            cells = [
                rng.choice(plausible.get(c, [""])) if rng.random() < 0.93 else rng.choice(TOKENS)
                for c in columns
            ]
            lines.append(",".join(f'"{c}"' if rng.random() < 0.2 else c for c in cells))
        report = run("\n".join(lines) + "\n", kind=kind, dry_run=rng.random() < 0.3)
        assert report.ok or not report.written
        outcomes.add(report.written)
    assert outcomes == {True, False}  # both paths were exercised
