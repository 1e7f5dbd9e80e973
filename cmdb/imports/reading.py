"""Reading an uploaded file: the size limit, the text encoding, the delimiter and the CSV
records — each failure a file problem a person can act on."""

from __future__ import annotations

import contextlib
import csv
import io

from django.conf import settings

from cmdb.imports.base import ImportReport, Problem

MAX_ROWS = 50_000


def max_bytes() -> int:
    """The largest file accepted (10 MB unless ``CMDB_IMPORT_MAX_BYTES`` is set)."""
    return getattr(settings, "CMDB_IMPORT_MAX_BYTES", 10 * 1024 * 1024)


def max_size_text() -> str:
    limit = max_bytes()
    return f"{limit / 1024 / 1024:g} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"


def read_limited(file, limit: int) -> bytes | None:
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


def decode(data: bytes, report: ImportReport) -> str | None:
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


def guess_delimiter(text: str) -> str:
    """``;`` when the header uses more semicolons than commas (spreadsheets in locales whose
    decimal separator is a comma save CSV that way), else ``,``."""
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def split_records(text: str, delimiter: str, report: ImportReport):
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
