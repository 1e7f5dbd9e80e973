"""CSV import for the CMDB: configuration items, relationships, installed software and licences.

A file is checked completely before anything is written. Every problem is reported with its row
(the header is row 1, as a spreadsheet numbers it), its column and a message a configuration
manager can act on. Only a file without errors is written — in one transaction, with bulk inserts
and updates in batches, simple-history entries and one audit event (``cmdb.import``). Warnings (an
installation recorded without a licence) do not block an import.

``import_csv`` is the one entry point; the upload page, the API and ``manage.py import_cmdb`` all
call it, and the column definitions below drive the checks, the page's column tables and the docs.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, connections, models, router, transaction
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from cmdb.attributes import SCHEMAS, TYPES, validate_attributes
from cmdb.choices import (
    ERROR_KIND_CATEGORY,
    CIKind,
    CIStatus,
    Environment,
    ErrorKind,
    ErrorSource,
    InstallSource,
    LicenceMetric,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from cmdb.selectors import cis_by_identifiers, licence_is_valid_on, licences_with_usage
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import HardwareModel, LicenceProduct, Location, SoftwareProduct, SoftwareVersion
from releasemgmt.core.services import audit_record

MAX_ROWS = 50_000
BATCH_SIZE = 500
# IN-lists are split so that no query exceeds a database's parameter limit (SQLite: 999).
LOOKUP_CHUNK = 900
ATTRIBUTE_PREFIX = "attr."
# Only these DSL statuses may be recorded as installed by an import (history of what ran, or runs).
RECORDABLE_STATUSES = (VersionStatus.AUTHORISED, VersionStatus.RETIRED)
# Clocks differ a little between the spreadsheet's machine and the server.
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_INT = 2_147_483_647

ERROR = "error"
WARNING = "warning"


def max_bytes() -> int:
    """The largest file accepted (10 MB unless ``CMDB_IMPORT_MAX_BYTES`` is set)."""
    return getattr(settings, "CMDB_IMPORT_MAX_BYTES", 10 * 1024 * 1024)


def max_size_text() -> str:
    limit = max_bytes()
    return f"{limit / 1024 / 1024:g} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"


@dataclass(frozen=True)
class Problem:
    """One finding: ``row`` as in the file (header = 1; None for the file as a whole)."""

    row: int | None
    column: str
    message: str
    level: str = ERROR

    def __str__(self) -> str:
        where = "file" if self.row is None else f"row {self.row}"
        if self.column:
            where += f", column {self.column}"
        text = f"{where}: {self.message}"
        return f"warning: {text}" if self.level == WARNING else text

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "level": self.level,
        }


@dataclass
class ImportReport:
    """What an import found and did. ``written`` is True only when the file was valid, not a dry
    run, and its changes were committed."""

    kind: str
    filename: str
    dry_run: bool
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    written: bool = False
    too_large: bool = False
    seconds: float = 0.0
    # (model, label, pk) of the first objects written, for links in the summary.
    touched: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "warnings": len(self.warnings),
        }

    def file_error(self, message: str) -> None:
        self.problems.append(Problem(None, "", message))

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "file": self.filename,
            "dry_run": self.dry_run,
            "valid": self.ok,
            "written": self.written,
            "counts": self.counts,
            "problems": [p.as_dict() for p in self.problems],
        }


@dataclass(frozen=True)
class Column:
    """One column of an import kind: what it holds, whether the header must have it, and the
    accepted values — shown on the upload page and in the docs from this one definition."""

    name: str
    required: bool
    help: str
    choices: type[models.TextChoices] | None = None
    example: str = ""

    @property
    def values(self) -> list[str]:
        return list(self.choices.values) if self.choices else []


def attribute_names() -> list[str]:
    """Every attribute name some CI kind accepts (``attr.<name>`` columns)."""
    return sorted({name for schema in SCHEMAS.values() for name in schema})


def attributes_by_kind() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """``(kind, label, [(attribute, type description)])`` for the page and the docs."""
    labels = dict(CIKind.choices)
    return [
        (kind, labels[kind], [(name, TYPES[parser]) for name, parser in sorted(schema.items())])
        for kind, schema in SCHEMAS.items()
    ]


# Reading the file


def _read_limited(file, limit: int) -> bytes | None:
    """The file's bytes, or None when it is larger than ``limit`` (never reads much beyond)."""
    if isinstance(file, bytes | bytearray):
        return None if len(file) > limit else bytes(file)
    size = getattr(file, "size", None)
    if isinstance(size, int) and size > limit:
        return None
    if hasattr(file, "seek"):
        with contextlib.suppress(OSError, ValueError):  # an unseekable stream starts where it is
            file.seek(0)
    data = file.read(limit + 1)
    return None if len(data) > limit else data


_MAGIC = [
    (b"PK\x03\x04", "an Excel workbook or another ZIP file"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel (.xls) workbook"),
    (b"%PDF", "a PDF document"),
]


def _decode(data: bytes, report: ImportReport) -> str | None:
    """UTF-8 text (a leading BOM removed), or None with a file problem naming what is wrong."""
    save_as = "In your spreadsheet choose Save As → “CSV UTF-8 (comma delimited)” and upload that."
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        report.file_error("The file is empty: give a header row and at least one data row.")
        return None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            report.file_error(f"This is {what}, not a CSV text file. {save_as}")
            return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        report.file_error(f"The file is UTF-16 text; only UTF-8 is accepted. {save_as}")
        return None
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        report.file_error(
            f"The file contains binary data (a NUL byte on line {line}); it is not a CSV text "
            f"file. {save_as}"
        )
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        report.file_error(
            f"The file is not UTF-8 text: byte 0x{data[error.start]:02X} on line {line} is not "
            "valid UTF-8 (the file was probably saved as Windows-1252 or Latin-1). " + save_as
        )
        return None


def _delimiter(text: str) -> str:
    """``;`` when the header uses more semicolons than commas (spreadsheets in locales whose
    decimal separator is a comma save CSV that way), else ``,``."""
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _records(text: str, delimiter: str, report: ImportReport):
    """``(row number, cells)`` for every record; None after a file problem (malformed CSV)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records = []
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            if number > MAX_ROWS + 1:
                report.file_error(
                    f"The file has more than {MAX_ROWS:,} data rows; split it into smaller files."
                )
                return None
            records.append((number, cells))
    except csv.Error as error:
        row = number + 1
        if "field larger than field limit" in str(error):
            message = (
                f"A value is longer than {csv.field_size_limit():,} characters; no CMDB field "
                "holds that much. Check the quotes on this row."
            )
        else:
            message = f"The CSV is malformed here ({error}); check the quotes on this row."
        report.problems.append(Problem(row, "", message))
        return None
    return records


def _quote(value: str, limit: int = 60) -> str:
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return f"“{value}”"


# Rows and cells

_SEPARATORS = re.compile(r"[\s-]+")


@functools.cache
def _choice_index(choices) -> dict[str, str]:
    """Every accepted spelling of a choice (value, lower-cased label) → its value."""
    index = {str(label).lower(): value for value, label in choices.choices}
    index.update({value: value for value in choices.values})
    return index


class _Row:
    """One data row: its cells by column name and the problems found in it."""

    __slots__ = ("cells", "failed", "number", "report")

    def __init__(self, number: int, report: ImportReport):
        self.number = number
        self.report = report
        self.cells: dict[str, str] = {}
        self.failed = False

    def get(self, column: str) -> str:
        return self.cells.get(column, "")

    def error(self, column: str, message: str) -> None:
        self.failed = True
        self.report.problems.append(Problem(self.number, column, message))

    def warn(self, column: str, message: str) -> None:
        self.report.problems.append(Problem(self.number, column, message, WARNING))

    def text(self, column: str, *, required: bool = False, max_length: int | None = None) -> str:
        value = self.get(column)
        if not value:
            if required:
                self.error(column, "Required: give a value.")
            return ""
        if max_length is not None and len(value) > max_length:
            self.error(column, f"Too long: {len(value):,} characters; at most {max_length}.")
            return ""
        return value

    def choice(self, column: str, choices, *, required: bool = False) -> str | None:
        """A choice given by its value or its label, in any case (``Virtual machine``,
        ``virtual-machine`` and ``virtual_machine`` all mean ``virtual_machine``)."""
        raw = self.text(column, required=required)
        if not raw:
            return None
        index = _choice_index(choices)
        value = (
            index.get(raw) or index.get(raw.lower()) or index.get(_SEPARATORS.sub("_", raw.lower()))
        )
        if value is None:
            self.error(column, f"{_quote(raw)} is not one of {', '.join(choices.values)}.")
        return value

    def whole_number(self, column: str) -> int | None:
        raw = self.text(column)
        if not raw:
            return None
        if not re.fullmatch(r"\d{1,10}", raw) or int(raw) > MAX_INT:
            self.error(column, f"Must be a whole number ≥ 0; got {_quote(raw)}.")
            return None
        return int(raw)

    def day(self, column: str) -> date | None:
        raw = self.text(column)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.error(column, f"Must be a date as YYYY-MM-DD; got {_quote(raw)}.")
            return None

    def moment(self, column: str) -> datetime | None:
        """An ISO 8601 date or date-time; without a time zone it is taken as UTC."""
        raw = self.text(column)
        if not raw:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            self.error(
                column,
                f"Must be an ISO 8601 date or date-time (2026-03-01 or 2026-03-01T14:30:00Z); "
                f"got {_quote(raw)}.",
            )
            return None
        return parsed.replace(tzinfo=UTC) if timezone.is_naive(parsed) else parsed

    def reference(self, column: str, found: dict, noun: str, *, attr: str, hint: str = ""):
        """The object a cell names (matched case-insensitively; an exact match wins a tie)."""
        value = self.text(column)
        if not value:
            return None
        matches = found.get(value.lower(), [])
        if len(matches) == 1:
            return matches[0]
        exact = [m for m in matches if getattr(m, attr) == value]
        if len(exact) == 1:
            return exact[0]
        if not matches:
            self.error(column, f"No {noun} {_quote(value)} exists.{hint}")
        else:
            self.error(column, f"{len(matches)} {noun}s match {_quote(value)}; fix the CMDB first.")
        return None


def _lookup(queryset, field_name: str, values: Iterable[str]) -> dict[str, list]:
    """Objects whose ``field_name`` matches one of ``values`` case-insensitively, by lower-cased
    value. One query per ``LOOKUP_CHUNK`` values (the functional unique indexes serve them)."""
    wanted = sorted({v.lower() for v in values if v})
    found: dict[str, list] = defaultdict(list)
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        for obj in queryset.annotate(_import_key=Lower(field_name)).filter(_import_key__in=chunk):
            found[obj._import_key].append(obj)
    return found


def _chunks(values: Iterable, size: int = LOOKUP_CHUNK):
    values = sorted(set(values))
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _bulk_update(model, objs: list, fields: list[str]) -> None:
    """``UPDATE … FROM (VALUES …)`` in batches: one statement per batch, like ``bulk_update``,
    without the CASE/WHEN expression per object and field that makes Django's version take
    ~25 s for 5,000 rows (all of it Python). PostgreSQL and SQLite ≥ 3.33 both speak it, and
    both name the VALUES columns column1, column2, …; other databases use ``bulk_update``."""
    connection = connections[router.db_for_write(model)]
    if not objs:
        return
    if connection.vendor not in ("postgresql", "sqlite"):
        model._default_manager.bulk_update(objs, fields, batch_size=BATCH_SIZE)
        return
    quote = connection.ops.quote_name
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]

    def value(index: int, model_field) -> str:
        reference = f"v.column{index}"
        if connection.vendor == "postgresql":  # VALUES of parameters are untyped text
            return f"CAST({reference} AS {model_field.db_type(connection)})"
        return reference

    table = quote(meta.db_table)
    assignments = ", ".join(
        f"{quote(f.column)} = {value(index, f)}" for index, f in enumerate(columns[1:], start=2)
    )
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    size = BATCH_SIZE
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        size = max(1, min(BATCH_SIZE, limit // len(columns)))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            params = [
                f.get_db_prep_save(getattr(obj, f.attname), connection)
                for obj in batch
                for f in columns
            ]
            rows = ", ".join([placeholders] * len(batch))
            # Only quoted names from the model's meta are formatted in; every value is a parameter.
            sql = f"UPDATE {table} SET {assignments} FROM (VALUES {rows}) AS v WHERE {table}.{quote(meta.pk.column)} = {value(1, meta.pk)}"  # noqa: S608
            cursor.execute(sql, params)


# The importers


class Importer:
    """Checks the rows of one kind of file (``plan``) and writes them (``write``). ``plan`` never
    writes; it fills the counts, the problems and the pending objects."""

    kind = ""
    label = ""
    summary = ""
    columns: tuple[Column, ...] = ()
    attribute_columns = False
    permissions: tuple[str, ...] = ()

    def __init__(self, *, report: ImportReport, by, lock: bool):
        self.report = report
        self.by = by
        self.user = by if getattr(by, "is_authenticated", False) else None
        self.lock = lock  # lock the rows about to change (real import, not a dry run)
        self.header: list[str] = []
        self.reference = report.filename[:100]
        self.change_reason = f"import: {report.filename}"[:100]

    @classmethod
    def header_names(cls) -> list[str]:
        return [c.name for c in cls.columns]

    def check_header(self, header: list[str]) -> list[str] | None:
        """The normalised column names, or None after a file problem."""
        names = [h.strip().lstrip("\ufeff").lower() for h in header]
        if not any(names):
            self.report.problems.append(
                Problem(1, "", "Row 1 must be the header (the column names); it is empty.")
            )
            return None
        known = set(self.header_names())
        attributes = set(attribute_names())
        problems = []
        seen = set()
        unknown = []
        for name in names:
            if not name:
                continue
            if name in seen:
                problems.append(Problem(1, name, "This column appears twice in the header."))
            seen.add(name)
            is_attribute = (
                self.attribute_columns
                and name.startswith(ATTRIBUTE_PREFIX)
                and name[len(ATTRIBUTE_PREFIX) :] in attributes
            )
            if name not in known and not is_attribute:
                unknown.append(name)
        if unknown:
            expected = ", ".join(self.header_names())
            if self.attribute_columns:
                expected += f", and attr.<name> for attributes ({', '.join(sorted(attributes))})"
            problems.append(
                Problem(
                    1,
                    ", ".join(unknown),
                    f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                    f"The columns of a {self.label.lower()} file are: {expected}.",
                )
            )
        missing = [c.name for c in self.columns if c.required and c.name not in seen]
        if missing:
            problems.append(
                Problem(
                    1,
                    ", ".join(missing),
                    f"Missing required column{'s' if len(missing) > 1 else ''}: "
                    f"{', '.join(missing)}.",
                )
            )
        self.report.problems.extend(problems)
        self.header = [n for n in names if n]
        return None if problems else names

    def rows(self, names: list[str], records, delimiter: str) -> list[_Row]:
        width = len(names)
        rows = []
        for number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are skipped, but keep their number
            row = _Row(number, self.report)
            if len(cells) > width and any(cell.strip() for cell in cells[width:]):
                separator = "semicolon" if delimiter == ";" else "comma"
                row.error(
                    "",
                    f"This row has {len(cells)} values but the header has {width} columns; put "
                    f"quotes around a value that contains a {separator}.",
                )
            for index, name in enumerate(names):
                value = cells[index].strip() if index < len(cells) else ""
                if name:
                    row.cells[name] = value
                elif value:
                    row.error(
                        "", f"Value {_quote(value)} is in a column with no name in the header."
                    )
            rows.append(row)
        return rows

    def has(self, column: str) -> bool:
        return column in self.header

    def touch(self, model: str, label: str, pk: int) -> None:
        if len(self.report.touched) < 50:
            self.report.touched.append((model, label, pk))

    def plan(self, rows: list[_Row]) -> None:
        raise NotImplementedError

    def write(self) -> None:
        raise NotImplementedError


def _ci_lookup(identifiers: Iterable[str], *, lock: bool) -> dict[str, list]:
    found = cis_by_identifiers(identifiers, lock=lock)
    return defaultdict(list, {key: [ci] for key, ci in found.items()})


_CI_MISSING = (
    " Only configuration items already in the CMDB can be referred to: import the CIs first."
)


class CIImporter(Importer):
    kind = "cis"
    label = "Configuration items"
    summary = (
        "One row per configuration item. An identifier already in the CMDB (in any case) updates "
        "that CI; a new identifier creates one."
    )
    columns = (
        Column(
            "identifier",
            True,
            "Hostname, asset tag or service key (at most 100 characters). Matched "
            "case-insensitively; each CI at most once per file.",
            example="web-01",
        ),
        Column("name", True, "Display name (at most 200 characters).", example="Web server 1"),
        Column("kind", True, "What it is.", CIKind, example="server"),
        Column(
            "status",
            False,
            "Lifecycle status. Blank: active for a new CI, unchanged for an existing one.",
            CIStatus,
            example="active",
        ),
        Column(
            "environment",
            False,
            "Blank: production for a new CI, unchanged for an existing one.",
            Environment,
            example="production",
        ),
        Column("location", False, "Location code from the DHS, e.g. dc-north.", example="dc-north"),
        Column("hardware_model", False, "Part number of a DHS hardware model.", example=""),
        Column(
            "owner",
            False,
            "Responsible team or person (at most 200 characters).",
            example="Platform team",
        ),
        Column("description", False, "Free text.", example=""),
    )
    attribute_columns = True
    permissions = ("cmdb.add_configurationitem", "cmdb.change_configurationitem")
    fields = [
        "name",
        "kind",
        "status",
        "environment",
        "location",
        "hardware_model",
        "owner",
        "description",
        "attributes",
    ]

    def plan(self, rows):
        self.to_create: list[ConfigurationItem] = []
        self.to_update: list[ConfigurationItem] = []
        existing = _ci_lookup((r.get("identifier") for r in rows), lock=self.lock)
        locations: dict[str, list] = defaultdict(list)
        for location in Location.objects.all():
            locations[location.code.lower()].append(location)
        location_hint = " Known codes: " + ", ".join(
            sorted(loc.code for group in locations.values() for loc in group)[:20]
        )
        models_ = (
            _lookup(
                HardwareModel.objects.all(), "part_number", (r.get("hardware_model") for r in rows)
            )
            if self.has("hardware_model")
            else {}
        )
        attribute_columns = [c for c in self.header if c.startswith(ATTRIBUTE_PREFIX)]
        seen: dict[str, int] = {}
        for row in rows:
            if row.failed:
                continue
            identifier = row.text("identifier", required=True, max_length=100)
            key = identifier.lower()
            if key in seen:
                row.error(
                    "identifier",
                    f"{_quote(identifier)} appears already in row {seen[key]}; give each "
                    "configuration item once per file.",
                )
                continue
            if key:
                seen[key] = row.number
            matches = existing.get(key, [])
            ci = matches[0] if matches else None
            values = {
                "name": row.text("name", required=True, max_length=200),
                "kind": row.choice("kind", CIKind, required=True),
            }
            for column, choices, default in (
                ("status", CIStatus, CIStatus.ACTIVE),
                ("environment", Environment, Environment.PRODUCTION),
            ):
                value = row.choice(column, choices) if self.has(column) else None
                if value is not None or ci is None:
                    values[column] = value or default
            if self.has("location"):
                location = row.reference(
                    "location", locations, "location with code", attr="code", hint=location_hint
                )
                values["location_id"] = location.pk if location else None
            if self.has("hardware_model"):
                model = row.reference(
                    "hardware_model", models_, "hardware model with part number", attr="part_number"
                )
                values["hardware_model_id"] = model.pk if model else None
            if self.has("owner"):
                values["owner"] = row.text("owner", max_length=200)
            if self.has("description"):
                values["description"] = row.text("description")
            if values["kind"] is not None:
                values["attributes"] = self._attributes(row, ci, values["kind"], attribute_columns)
            if row.failed:
                continue
            if ci is None:
                self.to_create.append(ConfigurationItem(identifier=identifier, **values))
                self.report.created += 1
                continue
            changed = [name for name, value in values.items() if getattr(ci, name) != value]
            if changed:
                for name in changed:
                    setattr(ci, name, values[name])
                self.to_update.append(ci)
                self.report.updated += 1
            else:
                self.report.unchanged += 1

    def _attributes(self, row, ci, kind, attribute_columns) -> dict:
        """The CI's attributes after this row: stored ones kept, ``attr.*`` cells set, blank
        cells removing; the result validated against the kind's schema."""
        merged = dict(ci.attributes) if ci is not None and isinstance(ci.attributes, dict) else {}
        for column in attribute_columns:
            name = column[len(ATTRIBUTE_PREFIX) :]
            value = row.get(column)
            if value:
                merged[name] = value
            else:
                merged.pop(name, None)
        cleaned, errors = validate_attributes(kind, merged)
        for name, message in errors.items():
            column = f"{ATTRIBUTE_PREFIX}{name}"
            if column not in attribute_columns:
                message += (
                    f" The value is stored on the CI: add a column {column} with a valid value, "
                    "or leave that cell blank to remove it."
                )
            row.error(column, message)
        return cleaned

    def write(self):
        now = timezone.now()
        history = {
            "batch_size": BATCH_SIZE,
            "default_user": self.user,
            "default_change_reason": self.change_reason,
            "default_date": now,
        }
        if self.to_create:
            created = bulk_create_with_history(self.to_create, ConfigurationItem, **history)
            for ci in created:
                self.touch("ci", ci.identifier, ci.pk)
        if self.to_update:
            for ci in self.to_update:
                ci.updated_at = now  # bulk_update does not run auto_now
                self.touch("ci", ci.identifier, ci.pk)
            _bulk_update(ConfigurationItem, self.to_update, [*self.fields, "updated_at"])
            # fields=[]: the rows are written above; simple-history adds their history entries.
            bulk_update_with_history(self.to_update, ConfigurationItem, fields=[], **history)


class RelationshipImporter(Importer):
    kind = "relationships"
    label = "Relationships"
    summary = (
        "One row per relationship “source kind target” between CIs already in the CMDB. A "
        "relationship that exists already is left unchanged."
    )
    columns = (
        Column(
            "source", True, "Identifier of the CI the relationship starts from.", example="billing"
        ),
        Column("kind", True, "How the source relates to the target.", RelationshipKind, "runs_on"),
        Column("target", True, "Identifier of the other CI.", example="web-01"),
    )
    permissions = ("cmdb.add_relationship",)

    def plan(self, rows):
        self.to_create: list[Relationship] = []
        cis = _ci_lookup((r.get(c) for r in rows for c in ("source", "target")), lock=False)
        self.names = {c.pk: c.identifier for group in cis.values() for c in group}
        ids = list(self.names)
        existing = set()
        for chunk in _chunks(ids):
            existing.update(
                Relationship.objects.filter(source_id__in=chunk).values_list(
                    "source_id", "target_id", "kind"
                )
            )
        # The whole part-of graph: a cycle may run through CIs the file never names.
        parents: dict[int, set[int]] = defaultdict(set)
        for source_id, target_id in Relationship.objects.filter(
            kind=RelationshipKind.PART_OF
        ).values_list("source_id", "target_id"):
            parents[source_id].add(target_id)
        seen: dict[tuple, int] = {}
        for row in rows:
            if row.failed:
                continue
            source = row.reference(
                "source", cis, "configuration item", attr="identifier", hint=_CI_MISSING
            )
            kind = row.choice("kind", RelationshipKind, required=True)
            target = row.reference(
                "target", cis, "configuration item", attr="identifier", hint=_CI_MISSING
            )
            for column, value in (("source", source), ("target", target)):
                if value is None and not row.get(column):
                    row.error(column, "Required: give a CI identifier.")
            if row.failed:
                continue
            if source.pk == target.pk:
                row.error("target", "A configuration item cannot be related to itself.")
                continue
            key = (source.pk, target.pk, kind)
            if key in seen:
                row.error("target", f"The same relationship is in row {seen[key]} already.")
                continue
            seen[key] = row.number
            if key in existing:
                self.report.unchanged += 1
                continue
            if kind == RelationshipKind.PART_OF:
                path = self._path(parents, target.pk, source.pk)
                if path is not None:
                    chain = " part of ".join(self._name(pk) for pk in [source.pk, *path])
                    row.error(
                        "target",
                        f"{target} is already (indirectly) part of {source}: this would make a "
                        f"cycle ({chain}).",
                    )
                    continue
                parents[source.pk].add(target.pk)
            self.to_create.append(Relationship(source=source, target=target, kind=kind))
            self.report.created += 1

    @staticmethod
    def _path(parents, start: int, goal: int) -> list[int] | None:
        """The part-of chain from ``start`` up to ``goal``, or None if ``goal`` is not above it."""
        previous = {start: None}
        frontier = [start]
        while frontier:
            following = []
            for node in frontier:
                if node == goal:
                    path = []
                    while node is not None:
                        path.append(node)
                        node = previous[node]
                    return path[::-1]
                for parent in parents.get(node, ()):
                    if parent not in previous:
                        previous[parent] = node
                        following.append(parent)
            frontier = following
        return None

    def _name(self, pk: int) -> str:
        if pk not in self.names:  # a CI on the chain that the file does not name
            self.names.update(
                ConfigurationItem.objects.filter(pk=pk).values_list("pk", "identifier")
            )
        return self.names.get(pk, f"#{pk}")

    def write(self):
        bulk_create_with_history(
            self.to_create,
            Relationship,
            batch_size=BATCH_SIZE,
            default_user=self.user,
            default_change_reason=self.change_reason,
            default_date=timezone.now(),
        )
        for relationship in self.to_create[:50]:
            self.touch(
                "ci",
                f"{relationship.source} {relationship.get_kind_display()} {relationship.target}",
                relationship.source_id,
            )


class _SeatBook:
    """Seats in use per licence while the file is planned: starts from the database (one
    aggregate query) and follows every installation the file adds or closes, with the same
    rules as ``cmdb.services.licence_allocate``."""

    def __init__(self, licences, per_ci: dict[tuple[int, int], int]):
        self.licences = {lic.pk: lic for lic in licences}
        self.in_use = {lic.pk: lic.seats_in_use for lic in licences}
        self.per_ci = defaultdict(int, per_ci)
        self.by_product: dict[int, list] = defaultdict(list)
        # Same order as licence_allocate on PostgreSQL: the soonest to end first, open-ended last.
        for lic in sorted(
            licences, key=lambda lic: (lic.valid_until is None, lic.valid_until or date.min, lic.pk)
        ):
            self.by_product[lic.licence_product_id].append(lic)
        self.today = timezone.localdate()

    def allocate(self, licence_product_id: int, ci_id: int):
        for lic in self.by_product.get(licence_product_id, []):
            if not licence_is_valid_on(lic, self.today):
                continue
            if lic.metric == LicenceMetric.SITE:
                return lic
            if lic.metric != LicenceMetric.PER_SEAT and self.per_ci[(lic.pk, ci_id)] > 0:
                return lic  # a per-device licence the CI already uses costs nothing more
            if self.in_use[lic.pk] < lic.seats:
                return lic
        return None

    def take(self, licence_id: int | None, ci_id: int) -> None:
        if licence_id not in self.licences:
            return
        self.per_ci[(licence_id, ci_id)] += 1
        if self._counts(licence_id, ci_id, 1):
            self.in_use[licence_id] += 1

    def release(self, licence_id: int | None, ci_id: int) -> None:
        if licence_id not in self.licences:
            return
        self.per_ci[(licence_id, ci_id)] -= 1
        if self._counts(licence_id, ci_id, 0):
            self.in_use[licence_id] -= 1

    def _counts(self, licence_id: int, ci_id: int, edge: int) -> bool:
        """Whether this installation changes the seats in use: always per seat; per device only
        when the CI's count crosses ``edge`` (its first installation, or its last one gone)."""
        if self.licences[licence_id].metric == LicenceMetric.PER_SEAT:
            return True
        return self.per_ci[(licence_id, ci_id)] == edge


class InstalledSoftwareImporter(Importer):
    kind = "installed-software"
    label = "Installed software"
    summary = (
        "One row per installation of a DSL version on a CI already in the CMDB. The CI's "
        "previous version of the same product is closed (kept as history, the baseline a "
        "back-out restores). A row naming the version already installed changes nothing."
    )
    columns = (
        Column("ci", True, "Identifier of the configuration item.", example="web-01"),
        Column("product", True, "Name of the software product in the DSL.", example="Nginx"),
        Column(
            "version",
            True,
            "A version of that product in the DSL, authorised or retired (draft and quarantined "
            "versions are refused).",
            example="1.26.2",
        ),
        Column(
            "licence",
            False,
            "Name of a licence of the product's licence product. Blank: the current "
            "installation's licence is kept, or one with a free seat is allocated; if none has "
            "one, the row is imported with a warning and a licence-missing error is recorded.",
            example="",
        ),
        Column(
            "installed_at",
            False,
            "ISO 8601 date or date-time (UTC unless it names a zone). Blank: now. Not in the "
            "future, not before the installation it replaces.",
            example="2026-03-01T09:00:00Z",
        ),
    )
    permissions = ("cmdb.add_installedsoftware",)

    def plan(self, rows):
        self.to_close: list[InstalledSoftware] = []
        self.to_create: list[InstalledSoftware] = []
        self.missing: dict[str, tuple] = {}
        now = timezone.now()
        cis = _ci_lookup((r.get("ci") for r in rows), lock=self.lock)
        products = _lookup(
            SoftwareProduct.objects.select_related("licence_product"),
            "name",
            (r.get("product") for r in rows),
        )
        product_ids = [p.pk for group in products.values() for p in group]
        versions: dict[tuple[int, str], SoftwareVersion] = {}
        wanted = {r.get("version").lower() for r in rows if r.get("version")}
        for chunk in _chunks(wanted):
            for version in (
                SoftwareVersion.objects.select_related("product")
                .annotate(_import_key=Lower("version"))
                .filter(product_id__in=product_ids, _import_key__in=chunk)
            ):
                versions[(version.product_id, version._import_key)] = version
        ci_ids = [c.pk for group in cis.values() for c in group]
        current: dict[tuple[int, int], InstalledSoftware] = {}
        for chunk in _chunks(ci_ids):
            for installation in InstalledSoftware.objects.select_related("version__product").filter(
                ci_id__in=chunk, product_id__in=product_ids, removed_at__isnull=True
            ):
                current[(installation.ci_id, installation.product_id)] = installation
        book = self._seat_book(products, ci_ids)
        named = (
            _lookup(
                Licence.objects.select_related("licence_product"),
                "name",
                (r.get("licence") for r in rows),
            )
            if self.has("licence")
            else {}
        )
        for row in rows:
            if row.failed:
                continue
            ci = row.reference("ci", cis, "configuration item", attr="identifier", hint=_CI_MISSING)
            product = row.reference(
                "product",
                products,
                "software product",
                attr="name",
                hint=" Add it to the DSL first.",
            )
            version_text = row.text("version", required=True, max_length=100)
            licence_name = row.text("licence", max_length=200) if self.has("licence") else ""
            installed_at = row.moment("installed_at") if self.has("installed_at") else None
            for column in ("ci", "product"):
                if not row.get(column):
                    row.error(column, "Required: give a value.")
            if row.failed:
                continue
            version = versions.get((product.pk, version_text.lower()))
            if version is None:
                row.error("version", f"{product} has no version {_quote(version_text)} in the DSL.")
                continue
            if version.status not in RECORDABLE_STATUSES:
                row.error(
                    "version",
                    f"{version} is {version.get_status_display().lower()}: only authorised or "
                    "retired versions can be recorded as installed.",
                )
            licence = None
            if licence_name:
                licence = self._named_licence(row, named, licence_name, product, book)
            if installed_at is None:
                installed_at = now
            elif installed_at > now + FUTURE_TOLERANCE:
                row.error("installed_at", "Is in the future; give when it was installed.")
            state = current.get((ci.pk, product.pk))
            if state is not None and state.version_id == version.pk:
                if not row.failed:
                    self.report.unchanged += 1
                continue
            if state is not None and installed_at < state.installed_at:
                row.error(
                    "installed_at",
                    f"Is before the installation it replaces ({state.version} on {ci}, since "
                    f"{state.installed_at:%Y-%m-%d %H:%M} UTC).",
                )
            if row.failed:
                continue
            licence_id = licence.pk if licence is not None else None
            if state is not None:
                state.removed_at = installed_at
                if state.pk is not None:
                    self.to_close.append(state)
                book.release(state.licence_id, ci.pk)
                if licence_id is None:
                    licence_id = state.licence_id  # an upgrade keeps its seat
            lp = product.licence_product
            if licence_id is None and lp is not None:
                allocated = book.allocate(lp.pk, ci.pk)
                licence_id = allocated.pk if allocated is not None else None
                if licence_id is None:
                    row.warn(
                        "licence",
                        f"No valid licence of {lp} has a free seat: the installation is recorded "
                        "without a licence and a licence-missing error is raised.",
                    )
                    fingerprint = f"licence_missing:ci={ci.pk}:product={product.pk}"
                    self.missing[fingerprint] = (ci, version, lp)
            book.take(licence_id, ci.pk)
            installation = InstalledSoftware(
                ci=ci,
                product=product,
                version=version,
                licence_id=licence_id,
                installed_at=installed_at,
                source=InstallSource.IMPORT,
                source_reference=self.reference,
                recorded_by=self.user,
            )
            current[(ci.pk, product.pk)] = installation
            self.to_create.append(installation)
            if state is None:
                self.report.created += 1
            else:
                self.report.updated += 1

    def _seat_book(self, products, ci_ids) -> _SeatBook:
        licence_product_ids = {
            p.licence_product_id
            for group in products.values()
            for p in group
            if p.licence_product_id
        }
        if not licence_product_ids:
            return _SeatBook([], {})
        licences = Licence.objects.filter(licence_product_id__in=licence_product_ids)
        if self.lock:
            # Two allocations (an import and a release, say) must not both take the last seat.
            list(licences.select_for_update().values_list("pk", flat=True))
        with_usage = list(licences_with_usage(licences))
        per_ci = {}
        licence_ids = [lic.pk for lic in with_usage]
        for chunk in _chunks(ci_ids):
            for licence_id, ci_id, count in (
                InstalledSoftware.objects.filter(
                    removed_at__isnull=True, licence_id__in=licence_ids, ci_id__in=chunk
                )
                .values_list("licence_id", "ci_id")
                .annotate(count=Count("id"))
                .values_list("licence_id", "ci_id", "count")
            ):
                per_ci[(licence_id, ci_id)] = count
        return _SeatBook(with_usage, per_ci)

    @staticmethod
    def _named_licence(row, named, name, product, book):
        lp = product.licence_product
        if lp is None:
            row.error("licence", f"{product} needs no licence; leave this blank.")
            return None
        matches = named.get(name.lower(), [])
        own = [lic for lic in matches if lic.licence_product_id == lp.pk]
        if len(own) == 1:
            return book.licences.get(own[0].pk, own[0])
        if len(own) > 1:
            row.error(
                "licence",
                f"{len(own)} licences of {lp} are named {_quote(name)}; rename one first.",
            )
        elif matches:
            row.error(
                "licence",
                f"{_quote(name)} is a licence of {matches[0].licence_product}, but {product} "
                f"needs a licence of {lp}.",
            )
        else:
            row.error("licence", f"No licence named {_quote(name)} exists.")
        return None

    def write(self):
        now = timezone.now()
        _bulk_update(InstalledSoftware, self.to_close, ["removed_at"])
        InstalledSoftware.objects.bulk_create(self.to_create, batch_size=BATCH_SIZE)
        for installation in self.to_create[:50]:
            self.touch("ci", f"{installation.version} on {installation.ci}", installation.ci_id)
        open_ = set()
        for chunk in _chunks(self.missing):
            open_.update(
                Discrepancy.objects.filter(
                    fingerprint__in=chunk, resolved_at__isnull=True
                ).values_list("fingerprint", flat=True)
            )
        Discrepancy.objects.bulk_create(
            [
                Discrepancy(
                    category=ERROR_KIND_CATEGORY[ErrorKind.LICENCE_MISSING],
                    kind=ErrorKind.LICENCE_MISSING,
                    source=ErrorSource.IMPORT,
                    subject=f"{version} on {ci}"[:200],
                    expected=f"a free seat of {lp}",
                    found="no valid licence with a free seat",
                    ci=ci,
                    software_version=version,
                    reference=self.reference,
                    fingerprint=fingerprint,
                    detected_at=now,
                )
                for fingerprint, (ci, version, lp) in self.missing.items()
                if fingerprint not in open_
            ],
            batch_size=BATCH_SIZE,
        )


class LicenceImporter(Importer):
    kind = "licences"
    label = "Licences"
    summary = (
        "One row per licence. A licence is known by its licence product and name (in any case): "
        "an existing one is updated, a new one created. Seats in use are never imported — they "
        "are counted from installed software."
    )
    columns = (
        Column(
            "licence_product",
            True,
            "Name of the licence product in the DSL the licence is for.",
            example="Microsoft 365 Apps",
        ),
        Column(
            "name", True, "How people refer to it (at most 200 characters).", example="M365 — 2027"
        ),
        Column(
            "metric",
            False,
            "How seats are counted. Blank: per_device for a new licence, unchanged otherwise.",
            LicenceMetric,
            example="per_device",
        ),
        Column(
            "seats",
            False,
            "Whole number of seats; required unless the metric is site.",
            example="250",
        ),
        Column("valid_from", False, "First day of validity, YYYY-MM-DD.", example="2026-01-01"),
        Column(
            "valid_until",
            False,
            "Last day of validity, YYYY-MM-DD (not before valid_from).",
            example="2026-12-31",
        ),
        Column("vendor", False, "Who sold it (at most 200 characters).", example="Microsoft"),
        Column(
            "contract_reference",
            False,
            "Contract or order number (at most 100 characters).",
            example="EA-2026-114",
        ),
        Column(
            "low_seat_threshold",
            False,
            "Alert when this many seats or fewer are free. Blank: 0 for a new licence, unchanged "
            "otherwise.",
            example="10",
        ),
        Column("notes", False, "Free text.", example=""),
    )
    permissions = ("cmdb.add_licence", "cmdb.change_licence")
    fields = [
        "metric",
        "seats",
        "valid_from",
        "valid_until",
        "vendor",
        "contract_reference",
        "low_seat_threshold",
        "notes",
    ]

    def plan(self, rows):
        self.to_create: list[Licence] = []
        self.to_update: list[Licence] = []
        products = _lookup(
            LicenceProduct.objects.all(), "name", (r.get("licence_product") for r in rows)
        )
        queryset = Licence.objects.all()
        if self.lock:
            queryset = queryset.select_for_update()
        existing: dict[tuple[int, str], list[Licence]] = defaultdict(list)
        for group in _lookup(queryset, "name", (r.get("name") for r in rows)).values():
            for licence in group:
                existing[(licence.licence_product_id, licence.name.lower())].append(licence)
        in_use: dict[int, int] = {}
        for chunk in _chunks(lic.pk for group in existing.values() for lic in group):
            in_use.update(
                licences_with_usage(Licence.objects.filter(pk__in=chunk)).values_list(
                    "pk", "seats_in_use"
                )
            )
        seen: dict[tuple[int, str], int] = {}
        for row in rows:
            if row.failed:
                continue
            product = row.reference(
                "licence_product",
                products,
                "licence product",
                attr="name",
                hint=" Add it to the DSL first.",
            )
            if product is None and not row.get("licence_product"):
                row.error("licence_product", "Required: give a value.")
            name = row.text("name", required=True, max_length=200)
            given = {}
            if self.has("metric"):
                given["metric"] = row.choice("metric", LicenceMetric)
            for column in ("seats", "low_seat_threshold"):
                if self.has(column):
                    given[column] = row.whole_number(column)
            for column in ("valid_from", "valid_until"):
                if self.has(column):
                    given[column] = row.day(column)
            for column, limit in (("vendor", 200), ("contract_reference", 100), ("notes", None)):
                if self.has(column):
                    given[column] = row.text(column, max_length=limit)
            if product is None or not name:
                continue
            key = (product.pk, name.lower())
            if key in seen:
                row.error("name", f"{product} {_quote(name)} is in row {seen[key]} already.")
                continue
            seen[key] = row.number
            matches = existing.get(key, [])
            if len(matches) > 1:
                row.error(
                    "name",
                    f"{len(matches)} licences of {product} are named {_quote(name)}; rename one "
                    "in the CMDB first.",
                )
                continue
            licence = matches[0] if matches else None
            values = self._values(given, licence)
            if values["metric"] != LicenceMetric.SITE and values["seats"] is None:
                row.error("seats", "Give the number of seats (only site licences have none).")
            if (
                values["valid_from"]
                and values["valid_until"]
                and values["valid_until"] < values["valid_from"]
            ):
                row.error(
                    "valid_until",
                    f"Ends before it starts (valid_from {values['valid_from']:%Y-%m-%d}).",
                )
            if row.failed:
                continue
            if licence is None:
                self.to_create.append(Licence(licence_product=product, name=name, **values))
                self.report.created += 1
                continue
            used = in_use.get(licence.pk, 0)
            if values["metric"] != LicenceMetric.SITE and values["seats"] < used:
                row.warn(
                    "seats",
                    f"{used} seats are in use, more than the {values['seats']} given: the licence "
                    "will show as over-used.",
                )
            changed = [f for f, value in values.items() if getattr(licence, f) != value]
            if changed:
                for f in changed:
                    setattr(licence, f, values[f])
                self.to_update.append(licence)
                self.report.updated += 1
            else:
                self.report.unchanged += 1

    # Blank in these columns means the default for a new licence and no change for an existing one.
    DEFAULTS = {"metric": LicenceMetric.PER_DEVICE, "low_seat_threshold": 0}

    def _values(self, given: dict, licence: Licence | None) -> dict:
        """The licence's fields after this row: a column left out of the file keeps the stored
        value (or the model's default for a new licence); a blank cell clears it, except in the
        ``DEFAULTS`` columns."""
        blank = Licence()  # the model's defaults
        current = licence if licence is not None else blank
        values = {}
        for name in self.fields:
            value = given.get(name, getattr(current, name))
            if value is None and name in self.DEFAULTS:
                value = getattr(current, name) if licence is not None else self.DEFAULTS[name]
            values[name] = value
        return values

    def write(self):
        history = {
            "batch_size": BATCH_SIZE,
            "default_user": self.user,
            "default_change_reason": self.change_reason,
            "default_date": timezone.now(),
        }
        if self.to_create:
            for licence in bulk_create_with_history(self.to_create, Licence, **history):
                self.touch("licence", licence.name, licence.pk)
        if self.to_update:
            _bulk_update(Licence, self.to_update, self.fields)
            bulk_update_with_history(self.to_update, Licence, fields=[], **history)
            for licence in self.to_update:
                self.touch("licence", licence.name, licence.pk)


IMPORTERS: dict[str, type[Importer]] = {
    importer.kind: importer
    for importer in (CIImporter, RelationshipImporter, InstalledSoftwareImporter, LicenceImporter)
}


def import_csv(*, kind: str, file, filename: str, by=None, dry_run: bool = False) -> ImportReport:
    """Check a CSV file of ``kind`` (``cis``, ``relationships``, ``installed-software``,
    ``licences``) and — unless ``dry_run`` or any row has an error — write it.

    ``file`` is bytes or a binary file object (read up to the size limit, never beyond).
    Nothing is written unless the whole file is valid; when it is, every change is written in one
    transaction with history entries (change reason ``import: <file name>``) and one audit event
    ``cmdb.import`` with the counts (the file name as its reason). A change made by someone else
    between the check and the write (a duplicate identifier, say) rolls everything back and is
    reported as a file problem. Never raises for bad input: every problem is in the report."""
    importer_class = IMPORTERS[kind]
    started = time.monotonic()
    report = ImportReport(kind=kind, filename=filename or "upload.csv", dry_run=dry_run)
    try:
        _run(importer_class, report, file, by)
    finally:
        report.seconds = time.monotonic() - started
    return report


def _run(importer_class, report: ImportReport, file, by) -> None:
    limit = max_bytes()
    data = _read_limited(file, limit)
    if data is None:
        report.too_large = True
        report.file_error(
            f"The file is larger than {max_size_text()}; split it into smaller files."
        )
        return
    text = _decode(data, report)
    if text is None:
        return
    delimiter = _delimiter(text)
    records = _records(text, delimiter, report)
    if records is None:
        return
    importer = importer_class(report=report, by=by, lock=not report.dry_run)
    names = importer.check_header(records[0][1])
    if names is None:
        return
    rows = importer.rows(names, records[1:], delimiter)
    report.rows = len(rows)
    if not rows:
        report.file_error("The file has a header row but no data rows.")
        return
    if report.dry_run:
        importer.plan(rows)  # reads only
        return
    try:
        with transaction.atomic():
            importer.plan(rows)
            if not report.ok:
                return
            importer.write()
            audit_record(
                actor=by,
                action="cmdb.import",
                after={"kind": report.kind, **report.counts},
                reason=report.filename,
            )
            report.written = True
    except IntegrityError:
        report.written = False
        report.touched.clear()
        report.file_error(
            "The CMDB changed while this file was being imported (someone else added or "
            "changed the same records); nothing was written. Check the file again."
        )
    except DataError as error:
        report.written = False
        report.touched.clear()
        report.file_error(f"A value could not be stored ({error}); nothing was written.")
