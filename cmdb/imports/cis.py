"""Importing configuration items: create or update by identifier, attributes checked against
the kind's schema."""

from __future__ import annotations

from collections import defaultdict

from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from cmdb.attributes import validate_attributes
from cmdb.choices import CIKind, CIStatus, Environment
from cmdb.imports.base import ATTRIBUTE_PREFIX, BATCH_SIZE, Column, Importer, quote
from cmdb.imports.queries import ci_lookup, lookup, update_in_batches
from cmdb.models import ConfigurationItem
from dsl_dhs.models import HardwareModel, Location


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
        existing = ci_lookup((r.get("identifier") for r in rows), lock=self.lock)
        locations: dict[str, list] = defaultdict(list)
        for location in Location.objects.all():
            locations[location.code.lower()].append(location)
        location_hint = " Known codes: " + ", ".join(
            sorted(loc.code for group in locations.values() for loc in group)[:20]
        )
        models_ = (
            lookup(
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
                    f"{quote(identifier)} appears already in row {seen[key]}; give each "
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
            update_in_batches(ConfigurationItem, self.to_update, [*self.fields, "updated_at"])
            # fields=[]: the rows are written above; simple-history adds their history entries.
            bulk_update_with_history(self.to_update, ConfigurationItem, fields=[], **history)
