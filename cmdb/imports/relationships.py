"""Importing relationships between configuration items already in the CMDB, refusing a part-of
cycle."""

from __future__ import annotations

from collections import defaultdict

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from cmdb.choices import RelationshipKind
from cmdb.imports.base import BATCH_SIZE, Column, Importer
from cmdb.imports.queries import CI_MISSING, chunks, ci_lookup
from cmdb.models import ConfigurationItem, Relationship


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
        cis = ci_lookup((r.get(c) for r in rows for c in ("source", "target")), lock=False)
        self.names = {c.pk: c.identifier for group in cis.values() for c in group}
        ids = list(self.names)
        existing = set()
        for chunk in chunks(ids):
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
                "source", cis, "configuration item", attr="identifier", hint=CI_MISSING
            )
            kind = row.choice("kind", RelationshipKind, required=True)
            target = row.reference(
                "target", cis, "configuration item", attr="identifier", hint=CI_MISSING
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
