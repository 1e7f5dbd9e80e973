"""What every importer shares: the report and its problems, the column definitions, one
data row with its cell parsers and row errors, and the ``Importer`` base class that checks the
header and splits the records into rows."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db import models
from django.utils import timezone

from cmdb.attributes import SCHEMAS, TYPES
from cmdb.choices import CIKind

BATCH_SIZE = 500
ATTRIBUTE_PREFIX = "attr."
MAX_INT = 2_147_483_647

ERROR = "error"
WARNING = "warning"


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


def quote(value: str, limit: int = 60) -> str:
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


class Row:
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
            self.error(column, f"{quote(raw)} is not one of {', '.join(choices.values)}.")
        return value

    def whole_number(self, column: str) -> int | None:
        raw = self.text(column)
        if not raw:
            return None
        if not re.fullmatch(r"\d{1,10}", raw) or int(raw) > MAX_INT:
            self.error(column, f"Must be a whole number ≥ 0; got {quote(raw)}.")
            return None
        return int(raw)

    def day(self, column: str) -> date | None:
        raw = self.text(column)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.error(column, f"Must be a date as YYYY-MM-DD; got {quote(raw)}.")
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
                f"got {quote(raw)}.",
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
            self.error(column, f"No {noun} {quote(value)} exists.{hint}")
        else:
            self.error(column, f"{len(matches)} {noun}s match {quote(value)}; fix the CMDB first.")
        return None


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

    def rows(self, names: list[str], records, delimiter: str) -> list[Row]:
        width = len(names)
        rows = []
        for number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are skipped, but keep their number
            row = Row(number, self.report)
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
                        "", f"Value {quote(value)} is in a column with no name in the header."
                    )
            rows.append(row)
        return rows

    def has(self, column: str) -> bool:
        return column in self.header

    def touch(self, model: str, label: str, pk: int) -> None:
        if len(self.report.touched) < 50:
            self.report.touched.append((model, label, pk))

    def plan(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def write(self) -> None:
        raise NotImplementedError
