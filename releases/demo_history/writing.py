"""From offsets to rows, and the rows written in bulk: ``bulk_create`` in batches, or a binary
COPY per table and chunk on PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import connection
from django.db.models import JSONField

from cmdb.choices import ERROR_KIND_CATEGORY, ErrorSource
from cmdb.models import Discrepancy
from releasemgmt.core.services import SYSTEM_ACTOR
from releases.choices import Trigger
from releases.demo_history.constants import (
    BACKOUT_STEPS,
    BATCH,
    DS,
    HISTORY_SOURCE,
    IS,
    JIRA_SOURCE,
)
from releases.demo_history.timeline import SimulatedRelease
from releases.models import (
    BackoutOverride,
    BackoutStep,
    ChangeRequest,
    FailureCondition,
    Release,
    ReleaseTarget,
    ReleaseTransition,
)

TARGET_COLUMNS = (
    "release_id",
    "ci_id",
    "distribution_state",
    "installation_state",
    "wave",
    "due_at",
    "dispatched_at",
    "attempts",
    "distributed_at",
    "installed_at",
    "backed_out_at",
    "last_report_at",
    "detail",
)


def as_columns(model, rows: list[dict]) -> tuple[tuple[str, ...], list[tuple]]:
    """Dicts of field values as (columns, tuples) for ``_insert``: every column any row names,
    a field's default where a row leaves it out."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    names = tuple(dict.fromkeys(name for row in rows for name in row))
    defaults = {name: fields[name].get_default() for name in names}
    return names, [tuple(row.get(name, defaults[name]) for name in names) for row in rows]


def _pg_type(field) -> str:
    """The PostgreSQL type a binary COPY sends a field's values as."""
    db_type = field.db_type(connection).lower()
    for prefix, name in (
        ("bigint", "int8"),
        ("smallint", "int2"),
        ("integer", "int4"),
        ("varchar", "text"),
        ("text", "text"),
        ("timestamp with time zone", "timestamptz"),
        ("date", "date"),
        ("jsonb", "jsonb"),
        ("numeric", "numeric"),
        ("boolean", "bool"),
    ):
        if db_type.startswith(prefix):
            return name
    raise ValueError(f"No COPY type for {field} ({db_type}).")


class WritingMixin:
    """Turning simulated releases into rows and inserting them.

    Part of the generator (``_Generator`` in ``generator``): its ``__init__`` sets the state
    these methods use (``rng``, ``users``, ``now``, ``counts``, ``is_postgres`` …)."""

    def _finish(self, release) -> None:
        """Turn offsets into times and fill the release's fields and counters."""
        at = lambda t: None if t is None else release.base + timedelta(seconds=t)  # noqa: E731
        f = release.fields
        last = release.transitions[-1]
        f["state"] = last[2]
        f["state_changed_at"] = at(last[3])
        f["outcome"] = release.outcome
        f["ended_at"] = at(release.ended) if release.outcome != "cancelled" else at(last[3])
        if release.outcome == "cancelled":
            f["distribution_start"], f["distribution_end"], f["installation_start"] = (
                release.windows
            )
            f["installation_end"] = release.window_end
        else:
            d, d_end, i = release.windows_offsets
            f["distribution_start"], f["distribution_end"], f["installation_start"] = (
                at(d),
                at(d_end),
                at(i),
            )
            f["installation_end"] = at(release.window_end)
        f["installed_at"] = at(release.installed_at)
        if release.required is not None:
            f["backout_required_at"] = at(release.required)
            f["backout_deadline"] = at(release.deadline)
            f["backout_condition"] = release.condition
            f["backout_figures"] = release.figures
            f["backout_decided_at"] = at(release.decided)
            f["backout_started_automatically"] = release.automatic
        targets = release.targets
        f["count_targets"] = len(targets)
        f["count_distributed"] = sum(1 for t in targets if t[1] == DS.DELIVERED)
        f["count_installed"] = sum(1 for t in targets if t[8] is not None)
        f["count_install_failed"] = sum(
            1 for t in targets if t[8] is None and t[6] > 0 and t[2] != IS.HALTED
        )
        f["count_backed_out"] = sum(1 for t in targets if t[2] == IS.BACKED_OUT)
        f["count_backout_failed"] = sum(1 for t in targets if t[2] == IS.BACKOUT_FAILED)
        for target in targets:
            for k in (4, 5, 7, 8, 9, 10):
                target[k] = at(target[k])
        release.transitions = [
            (name, source, target, at(t), by, reason, details)
            for name, source, target, t, by, reason, details in release.transitions
        ]
        release.overrides = [
            [status, reason, asker, at(asked), confirmer, at(confirmed)]
            for status, reason, asker, asked, confirmer, confirmed in release.overrides
        ]
        for error in release.errors:
            error["detected"] = at(error["detected"])
            resolved = at(error.get("resolved"))
            error["resolved"] = resolved if resolved is not None and resolved < self.now else None
        release.created_at = release.base
        release.year_created = release.base.year
        f["title"] = f["title"].replace("{date}", f"{release.base:%Y-%m-%d}")
        # Cancelled after a failed verification: corrected by hand some days later, or still open.
        for error in release.errors:
            if error["resolved"] is None and error["source"] == ErrorSource.VERIFICATION:
                later = f["ended_at"] + timedelta(days=self.rng.uniform(1, 20))
                if later < self.now:
                    error["resolved"] = later
                    error["resolution"] = "Corrected in the CMDB after {number} was cancelled."
                    error["resolved_by"] = self.users.config_manager.pk
        if release.outcome == "completed":
            self.counts["completed"] += 1
        else:
            self.counts[release.outcome] += 1
        self.counts["automatic_backouts"] += release.automatic

    def _write(self, chunk: list[SimulatedRelease]) -> None:
        """Number the chunk's releases in the order they were created and insert them with
        everything that hangs off them: a few statements per table, whatever the chunk's size."""
        chunk.sort(key=lambda r: r.created_at)
        for release in chunk:
            year = release.year_created
            self.sequences[year] = self.sequences.get(year, 0) + 1
            release.number = f"REL-{year}-{self.sequences[year]:04d}"
            release.fields.update(number=release.number, created_at=release.created_at)
        changes = self._changes(chunk)  # they name the release's trigger
        rows = [release.fields for release in chunk]
        objects = self._insert(Release, *as_columns(Release, rows))
        if objects is None:  # COPY: read the keys back by number
            keys = dict(
                Release.objects.filter(number__in=[r.number for r in chunk]).values_list(
                    "number", "pk"
                )
            )
            for release in chunk:
                release.pk = keys[release.number]
        else:
            for obj, release in zip(objects, chunk, strict=True):
                release.pk = obj.pk
        self.counts["releases"] += len(chunk)

        objects = self._insert(ChangeRequest, *as_columns(ChangeRequest, [c for _, c in changes]))
        if objects is None:
            keys = dict(
                (
                    ((source, external), pk)
                    for source, external, pk in ChangeRequest.objects.filter(
                        external_id__in=[c["external_id"] for _, c in changes]
                    ).values_list("source_system", "external_id", "pk")
                )
            )
            change_pks = [keys[c["source_system"], c["external_id"]] for _, c in changes]
        else:
            change_pks = [obj.pk for obj in objects]
        through = Release.change_requests.through
        self._insert(
            through,
            ("release_id", "changerequest_id"),
            [(release.pk, pk) for (release, _), pk in zip(changes, change_pks, strict=True)],
        )
        self.counts["change_requests"] += len(changes)

        self._insert(
            FailureCondition,
            ("release_id", "kind", "threshold", "parameters", "description"),
            [
                (release.pk, kind, threshold, parameters, "")
                for release in chunk
                for kind, threshold, parameters in release.conditions
            ],
        )
        self._insert(
            BackoutStep,
            ("release_id", "position", "description"),
            [
                (release.pk, position, text)
                for release in chunk
                for position, text in enumerate(BACKOUT_STEPS, start=1)
            ],
        )
        overrides = []
        for release in chunk:
            release.override_rows = []
            for status, reason, asker, asked, confirmer, confirmed in release.overrides:
                row = BackoutOverride(
                    release_id=release.pk,
                    status=status,
                    reason=reason,
                    requested_by=asker,
                    requested_at=asked,
                    confirmed_by=confirmer,
                    confirmed_at=confirmed,
                )
                overrides.append(row)
                release.override_rows.append(row)
                self.counts[f"overrides_{status}"] += 1
        BackoutOverride.objects.bulk_create(overrides, batch_size=BATCH)  # a few: keys needed
        self.counts["transitions"] += self._insert(
            ReleaseTransition,
            (
                "release_id",
                "name",
                "source",
                "target",
                "at",
                "by_id",
                "by_name",
                "reason",
                "details",
            ),
            (
                (
                    release.pk,
                    name,
                    source,
                    target,
                    at,
                    by.pk if by is not None else None,
                    by.get_username() if by is not None else SYSTEM_ACTOR,
                    reason,
                    {"override": release.override_rows[details["override"]].pk}
                    if name == "override_backout"
                    else details,
                )
                for release in chunk
                for name, source, target, at, by, reason, details in release.transitions
            ),
            count=True,
        )
        self.counts["targets"] += self._insert(
            ReleaseTarget,
            TARGET_COLUMNS,
            ((release.pk, *target) for release in chunk for target in release.targets),
            count=True,
        )
        errors = [
            self._discrepancy(error, release.number)
            for release in chunk
            for error in release.errors
        ]
        self._insert(Discrepancy, *as_columns(Discrepancy, errors))
        self.counts["errors"] += len(errors)

    def _changes(self, chunk) -> list[tuple[SimulatedRelease, dict]]:
        """The change requests each release implements, approved a little before it was
        created; the first names a change-triggered release's trigger."""
        rng = self.rng
        result = []
        for release in chunk:
            f = release.fields
            for k in range(release.change_count):
                self._change_index += 1
                digest = hashlib.sha1(
                    f"{release.number}:{k}".encode(), usedforsecurity=False
                ).hexdigest()
                if rng.random() < 0.15:
                    source, external = JIRA_SOURCE, str(int(digest[:12], 16))
                    number = f"OPS-{10000 + self._change_index}"
                    url = f"https://jira.example.com/browse/{number}"
                else:
                    source, external = HISTORY_SOURCE, digest[:32]
                    number = f"CHG{2000000 + self._change_index:07d}"
                    url = f"https://servicenow.example.com/change_request.do?sys_id={external}"
                approved = release.created_at - timedelta(hours=rng.uniform(1, 24))
                if release.outcome == "cancelled" and rng.random() < 0.3:
                    approved = None  # cancelled before the CAB approved it
                received = (approved or release.created_at) - timedelta(hours=rng.uniform(2, 120))
                title = f["title"] if release.change_count == 1 else f"{f['title']}: part {k + 1}"
                change = {
                    "source_system": source,
                    "external_id": external,
                    "number": number,
                    "title": title,
                    "state": "canceled" if release.outcome == "cancelled" else "closed",
                    "change_type": release.change_type,
                    "planned_start": f["installation_start"],
                    "planned_end": f["installation_end"],
                    "url": url,
                    "approved_at": approved,
                    "created_at": received,
                }
                result.append((release, change))
                if k == 0 and f["trigger"] == Trigger.CHANGE_REQUEST:
                    f["trigger_reference"] = number
        return result

    def _insert(self, model, columns, rows, *, count: bool = False):
        """Insert ``rows`` (tuples in the order of ``columns``; the model's other fields get
        their defaults, ``auto_now`` ones now) — by PostgreSQL's COPY, else ``bulk_create`` in
        batches, with the times given kept (``bulk_create`` stamps ``auto_now_add`` fields with
        now: they are set again in one ``bulk_update``). Returns the number of rows with
        ``count``, else the objects created (their keys), or None after a COPY."""
        fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
        rest = [f for name, f in fields.items() if name not in columns]
        extra = tuple(
            self.now
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            else f.get_default()
            for f in rest
        )
        names = (*columns, *(f.attname for f in rest))
        written = 0
        if self.is_postgres:
            from psycopg.types.json import Jsonb  # the driver is loaded on PostgreSQL only

            json_at = [i for i, name in enumerate(names) if isinstance(fields[name], JSONField)]
            table = connection.ops.quote_name(model._meta.db_table)
            quoted = ", ".join(connection.ops.quote_name(name) for name in names)
            # Binary: no timestamps formatted here and parsed there, several times faster.
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types([_pg_type(fields[name]) for name in names])
                for row in rows:
                    row = (*row, *extra)
                    if json_at:
                        row = list(row)
                        for i in json_at:
                            row[i] = Jsonb(row[i])
                    copy.write_row(row)
                    written += 1
            return written if count else None
        stamped = [
            name
            for name in columns
            if getattr(fields[name], "auto_now_add", False)
            or getattr(fields[name], "auto_now", False)
        ]
        objects = []
        for row in rows:
            objects.append(model(**dict(zip(names, (*row, *extra), strict=True))))
        if stamped:
            given = [[getattr(obj, name) for name in stamped] for obj in objects]
        model.objects.bulk_create(objects, batch_size=BATCH)
        if stamped and objects:
            for obj, values in zip(objects, given, strict=True):
                for name, value in zip(stamped, values, strict=True):
                    setattr(obj, name, value)
            model.objects.bulk_update(objects, stamped, batch_size=1000)
        return len(objects) if count else objects

    def _discrepancy(self, error: dict, number: str) -> dict:
        def fill(text):
            return text.replace("{number}", number)

        return {
            "category": ERROR_KIND_CATEGORY[error["kind"]],
            "kind": error["kind"],
            "source": error["source"],
            "ci_id": error.get("ci_id"),
            "licence_id": error.get("licence_id"),
            "subject": fill(error["subject"])[:200],
            "expected": error["expected"],
            "found": error["found"],
            "reference": fill(error.get("reference", "")),
            "fingerprint": fill(error["fingerprint"])[:255],
            "detected_at": error["detected"],
            "resolved_at": error["resolved"],
            "resolved_by_id": error.get("resolved_by") if error["resolved"] else None,
            "resolution": fill(error.get("resolution", "")) if error["resolved"] else "",
        }
