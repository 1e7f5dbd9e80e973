"""Two of the row statements every report runs, at fleet rate: read and lock the target, and write
it back (the report itself is stored by ``core.db.insert_once``).

Each is written once from the models' metadata and runs as one plain statement, where the ORM
would compile the same query again for every report — for the target's locking read, with its
two joins and its field list, compiling cost more than a round trip to the database. They read
and write exactly what the ORM calls they stand for would, and hand back model instances the
same way (values through the fields' and the database's converters)."""

from functools import cache

from django.db import connection

from cmdb.models import ConfigurationItem
from releases.models import Release, ReleaseTarget


def _in_model_order(model, names) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


# What a report reads of its target's release and CI (the rest of each stays deferred), in the
# models' field order, which ``Model.from_db`` expects.
RELEASE_FIELDS = _in_model_order(Release, {"id", "number", "state", "installation_end"})
CI_FIELDS = _in_model_order(ConfigurationItem, {"id", "identifier"})
_TARGET_FIELDS = tuple(field.attname for field in ReleaseTarget._meta.concrete_fields)


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def target_locked(target_id: int) -> ReleaseTarget | None:
    """The target with its release (``RELEASE_FIELDS``) and CI (``CI_FIELDS``), its own row
    locked — ``select_for_update(of=("self",)).select_related("release", "ci").only(…)`` — or
    None. The caller holds a transaction."""
    sql, columns = _target_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [target_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = iter([_convert(column, value) for column, value in zip(columns, row, strict=True)])
    target = ReleaseTarget.from_db(connection.alias, _TARGET_FIELDS, _take(values, _TARGET_FIELDS))
    target.release = Release.from_db(
        connection.alias, RELEASE_FIELDS, _take(values, RELEASE_FIELDS, id=target.release_id)
    )
    target.ci = ConfigurationItem.from_db(
        connection.alias, CI_FIELDS, _take(values, CI_FIELDS, id=target.ci_id)
    )
    return target


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


def _take(values, names, **known) -> list:
    """The next values for these fields, in order; ``known`` ones (the id) are not selected."""
    return [known[name] if name in known else next(values) for name in names]


@cache
def _target_query():
    """The locking read's SQL and the column of each value it returns (built on first use)."""
    target, release, ci = (model._meta for model in (ReleaseTarget, Release, ConfigurationItem))
    columns = [
        *(target.get_field(name).get_col(target.db_table) for name in _TARGET_FIELDS),
        *(
            release.get_field(name).get_col(release.db_table)
            for name in RELEASE_FIELDS
            if name != "id"
        ),
        *(ci.get_field(name).get_col(ci.db_table) for name in CI_FIELDS if name != "id"),
    ]
    selected = ", ".join(
        f"{_quote(column.alias)}.{_quote(column.target.column)}" for column in columns
    )
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE"
        if connection.features.has_select_for_update_of:
            lock += f" OF {_quote(target.db_table)}"
    # only quoted names from the models are formatted in; the id is a parameter
    sql = (
        f"SELECT {selected} FROM {_quote(target.db_table)}"  # noqa: S608
        f" INNER JOIN {_quote(release.db_table)} ON {_quote(target.db_table)}."
        f"{_quote(target.get_field('release').column)} = {_quote(release.db_table)}.{_quote('id')}"
        f" INNER JOIN {_quote(ci.db_table)} ON {_quote(target.db_table)}."
        f"{_quote(target.get_field('ci').column)} = {_quote(ci.db_table)}.{_quote('id')}"
        f" WHERE {_quote(target.db_table)}.{_quote('id')} = %s{lock}"
    )
    return sql, columns


def _convert(column, value):
    """The value as the ORM hands it over (SQLite, for one, returns datetimes as text)."""
    for converter in (
        *connection.ops.get_db_converters(column),
        *column.get_db_converters(connection),
    ):
        value = converter(value, column, connection)
    return value
