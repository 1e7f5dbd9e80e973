"""The tables written at fleet rate (a target per report, a report, a webhook delivery, an audit
event) carry no index that another index already covers: every index is written with every row,
and an index on a column that leads a composite one serves no lookup the composite does not."""

import pytest
from django.db import connection

from releasemgmt.core.models import AuditEvent
from releases.models import DeploymentReport, ReleaseTarget, WebhookDelivery

pytestmark = pytest.mark.django_db

HOT_TABLES = [ReleaseTarget, DeploymentReport, WebhookDelivery, AuditEvent]


def _plain_indexes(model) -> dict[str, list[str]]:
    """The table's btree indexes (unique or not, the primary key left out) by name: columns."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if info["index"] or info["unique"]
        if not info["primary_key"] and info.get("type") in (None, "btree", "idx")
        if all(info["columns"])  # an expression index has no plain columns
    }


@pytest.mark.parametrize("model", HOT_TABLES, ids=lambda model: model.__name__)
def test_no_index_is_the_leading_part_of_another(model):
    indexes = _plain_indexes(model)
    covered = [
        (name, columns, other)
        for name, columns in indexes.items()
        for other, wider in indexes.items()
        if other != name and len(wider) > len(columns) and wider[: len(columns)] == columns
    ]
    assert covered == []


def test_the_composite_indexes_that_cover_the_dropped_ones_are_there():
    # the foreign keys still have an index each lookup can use: the one they lead
    leads = {
        (model.__name__, columns[0])
        for model in HOT_TABLES
        for columns in _plain_indexes(model).values()
    }
    assert {
        ("ReleaseTarget", "release_id"),
        ("ReleaseTarget", "ci_id"),
        ("DeploymentReport", "target_id"),
        ("WebhookDelivery", "source_id"),
        ("AuditEvent", "content_type_id"),
    } <= leads
