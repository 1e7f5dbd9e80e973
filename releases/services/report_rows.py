"""The row statements every report runs, at fleet rate: read and lock the target, then write it
back. The ORM would compile each again for every report — for the locking read, with its two
joins and its field list, compiling cost more than a round trip to the database: the read is
compiled once per thread (``core.db.CompiledQuery``), the write is one UPDATE built from the model.

On PostgreSQL a distribution or installation report stores itself, writes its target and moves
its release's counters in one statement (``report_write``: data-modifying ``WITH`` clauses);
elsewhere, and for back-outs, those are three (``core.db.insert_once``, ``target_write``,
``installation.counters_move``)."""

from django.db import connection

from cmdb.models import ConfigurationItem
from releasemgmt.core.db import CompiledQuery, insert_once_statement, inserted
from releases.models import DeploymentReport, Release, ReleaseTarget
from releases.services import installation

REPORT_UNIQUE = "releases_report_unique_id"


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
    with connection.cursor() as cursor:
        cursor.execute(*_target_update(target, names))


def _target_update(target: ReleaseTarget, names, *, guard: str = "") -> tuple[str, list]:
    fields = [ReleaseTarget._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{_quote(field.column)} = %s" for field in fields)
    # only quoted names from the model (and the caller's guard) are formatted in; the values
    # are parameters
    sql = (
        f"UPDATE {_quote(ReleaseTarget._meta.db_table)} SET {assignments}"  # noqa: S608
        f" WHERE {_quote('id')} = %s{guard}"
    )
    values = [
        field.get_db_prep_save(getattr(target, field.attname), connection) for field in fields
    ]
    return sql, [*values, target.pk]


def writes_at_once() -> bool:
    """Whether ``report_write`` can run as one statement (PostgreSQL's data-modifying ``WITH``)."""
    return connection.vendor == "postgresql"


def report_write(
    report: DeploymentReport, target: ReleaseTarget, names, counters: dict, *, states
) -> tuple[bool, dict | None]:
    """Store the report, write these fields of the target and move its release's counters —
    one statement (PostgreSQL only, see ``writes_at_once``), where the three one by one are
    three round trips at fleet rate. A repeated ``report_id`` writes nothing. Returns whether
    the report was stored, and the release's progress as ``installation.counters_move`` does
    (None when the release is not in one of ``states``: the caller rolls back). The target is
    locked by the caller's transaction; the release's row lock is taken here, last."""
    insert, insert_params = insert_once_statement(report, REPORT_UNIQUE, "default")
    stored = " AND EXISTS (SELECT 1 FROM new_report)"  # nothing moves for a repeat
    update, update_params = _target_update(target, names, guard=stored)
    move, move_params = installation.counters_statement(
        target.release_id, counters, states=states, guard=stored
    )
    # statements built from the models' quoted names; the values are parameters
    sql = (
        f"WITH new_report AS ({insert}), moved_target AS ({update}),"  # noqa: S608
        f" moved_release AS ({move})"
        " SELECT new_report.id, moved_release.* FROM (SELECT 1) AS one"
        " LEFT JOIN new_report ON TRUE LEFT JOIN moved_release ON TRUE"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*insert_params, *update_params, *move_params])
        report_pk, *progress = cursor.fetchone()
    if report_pk is None:
        return False, None
    inserted(report, report_pk, "default")
    if progress[0] is None:  # no release row came back: it is in none of the states
        return True, None
    return True, dict(zip(installation.PROGRESS_FIELDS, progress, strict=True))
