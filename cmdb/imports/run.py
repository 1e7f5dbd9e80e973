"""The one entry point, ``import_csv``: read, check every row, and write only a valid file —
in one transaction with one audit event."""

from __future__ import annotations

import time

from django.db import DataError, IntegrityError, transaction

from cmdb.imports.base import Importer, ImportReport
from cmdb.imports.cis import CIImporter
from cmdb.imports.installed_software import InstalledSoftwareImporter
from cmdb.imports.licences import LicenceImporter
from cmdb.imports.reading import (
    decode,
    guess_delimiter,
    max_bytes,
    max_size_text,
    read_limited,
    split_records,
)
from cmdb.imports.relationships import RelationshipImporter
from releasemgmt.core.services import audit_record

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
    data = read_limited(file, limit)
    if data is None:
        report.too_large = True
        report.file_error(
            f"The file is larger than {max_size_text()}; split it into smaller files."
        )
        return
    text = decode(data, report)
    if text is None:
        return
    delimiter = guess_delimiter(text)
    records = split_records(text, delimiter, report)
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
