"""Two of the row statements every report runs, at fleet rate: read and lock the target, and write
it back (the report itself is stored by ``core.db.insert_once``). The ORM would compile each again
for every report — for the locking read, with its two joins and its field list, compiling cost
more than a round trip to the database: the read is compiled once per thread
(``core.db.CompiledQuery``), the write is one UPDATE built from the model."""

from django.db import connection

from cmdb.models import ConfigurationItem
from releasemgmt.core.db import CompiledQuery
from releases.models import Release, ReleaseTarget


def _in_model_order(model, names) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


# What a report reads of its target's release and CI (the rest of each stays deferred), in the
# models' field order, which ``Model.from_db`` expects.
RELEASE_FIELDS = _in_model_order(Release, {"id", "number", "state", "installation_end"})
CI_FIELDS = _in_model_order(ConfigurationItem, {"id", "identifier"})


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


# Run for every report: compiled by the ORM once per thread (``core.db.CompiledQuery``).
_target_locked = CompiledQuery(
    ReleaseTarget,
    lambda target_id: (
        ReleaseTarget.objects.select_for_update(of=("self",))
        .select_related("release", "ci")
        .only(
            *(field.name for field in ReleaseTarget._meta.concrete_fields),
            *(f"release__{name}" for name in RELEASE_FIELDS),
            *(f"ci__{name}" for name in CI_FIELDS),
        )
        .filter(pk=target_id)
        .order_by()
    ),
    probes=[-7_654_321],  # an id, never a real one
)


def target_locked(target_id: int) -> ReleaseTarget | None:
    """The target with its release (``RELEASE_FIELDS``) and CI (``CI_FIELDS``), its own row
    locked, or None. The caller holds a transaction."""
    return _target_locked.first(target_id)


def target_write(target: ReleaseTarget, names) -> None:
    """Write these fields of the target — ``target.save(update_fields=names)`` as one UPDATE."""
    fields = [ReleaseTarget._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{_quote(field.column)} = %s" for field in fields)
    # only quoted names from the model are formatted in; the values are parameters
    sql = (
        f"UPDATE {_quote(ReleaseTarget._meta.db_table)} SET {assignments} WHERE {_quote('id')} = %s"  # noqa: S608
    )
    values = [
        field.get_db_prep_save(getattr(target, field.attname), connection) for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, target.pk])
