"""Importing licences: create or update by licence product and name; seats in use are counted,
never imported."""

from __future__ import annotations

from collections import defaultdict

from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from cmdb.choices import LicenceMetric
from cmdb.imports.base import BATCH_SIZE, Column, Importer, quote
from cmdb.imports.queries import chunks, lookup, update_in_batches
from cmdb.models import Licence
from cmdb.selectors import licences_with_usage
from dsl_dhs.models import LicenceProduct


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
        products = lookup(
            LicenceProduct.objects.all(), "name", (r.get("licence_product") for r in rows)
        )
        queryset = Licence.objects.all()
        if self.lock:
            queryset = queryset.select_for_update()
        existing: dict[tuple[int, str], list[Licence]] = defaultdict(list)
        for group in lookup(queryset, "name", (r.get("name") for r in rows)).values():
            for licence in group:
                existing[(licence.licence_product_id, licence.name.lower())].append(licence)
        in_use: dict[int, int] = {}
        for chunk in chunks(lic.pk for group in existing.values() for lic in group):
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
                row.error("name", f"{product} {quote(name)} is in row {seen[key]} already.")
                continue
            seen[key] = row.number
            matches = existing.get(key, [])
            if len(matches) > 1:
                row.error(
                    "name",
                    f"{len(matches)} licences of {product} are named {quote(name)}; rename one "
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
            update_in_batches(Licence, self.to_update, self.fields)
            bulk_update_with_history(self.to_update, Licence, fields=[], **history)
            for licence in self.to_update:
                self.touch("licence", licence.name, licence.pk)
