"""CSV import for the CMDB: configuration items, relationships, installed software and licences.

A file is checked completely before anything is written. Every problem is reported with its row
(the header is row 1, as a spreadsheet numbers it), its column and a message a configuration
manager can act on. Only a file without errors is written — in one transaction, with bulk inserts
and updates in batches, simple-history entries and one audit event (``cmdb.import``). Warnings (an
installation recorded without a licence) do not block an import.

``import_csv`` (in ``run``) is the one entry point; the upload page, the API and
``manage.py import_cmdb`` all call it, and the column definitions of each importer drive the
checks, the page's column tables and the docs.

- ``base``: the report and its problems, columns, one row and its cell parsers, ``Importer``
- ``reading``: the size limit, the encoding, the delimiter and the CSV records
- ``queries``: case-insensitive look-ups in chunks and the batched ``UPDATE``
- ``cis``, ``relationships``, ``installed_software``, ``licences``: one importer each
- ``run``: ``IMPORTERS`` and ``import_csv``
"""

from cmdb.imports.base import (
    Column,
    Importer,
    ImportReport,
    Problem,
    attribute_names,
    attributes_by_kind,
)
from cmdb.imports.cis import CIImporter
from cmdb.imports.installed_software import InstalledSoftwareImporter
from cmdb.imports.licences import LicenceImporter
from cmdb.imports.reading import max_bytes, max_size_text
from cmdb.imports.relationships import RelationshipImporter
from cmdb.imports.run import IMPORTERS, import_csv

__all__ = [
    "IMPORTERS",
    "CIImporter",
    "Column",
    "ImportReport",
    "Importer",
    "InstalledSoftwareImporter",
    "LicenceImporter",
    "Problem",
    "RelationshipImporter",
    "attribute_names",
    "attributes_by_kind",
    "import_csv",
    "max_bytes",
    "max_size_text",
]
