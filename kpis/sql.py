"""The two database functions the rollup needs and Django does not ship: the seconds between two
times, and the values of a group as a JSON array (the samples a median is taken from)."""

from django.db.models import Aggregate, BigIntegerField, Func, JSONField


class SecondsBetween(Func):
    """Whole seconds from the second expression to the first (``later - earlier``)."""

    output_field = BigIntegerField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(ROUND(EXTRACT(EPOCH FROM (%(expressions)s))) AS BIGINT)",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(ROUND((JULIANDAY(%(expressions)s)) * 86400) AS INTEGER)",
            arg_joiner=") - JULIANDAY(",
            **extra,
        )


class JsonArray(Aggregate):
    """The group's values as a JSON array (PostgreSQL ``JSONB_AGG``, SQLite ``JSON_GROUP_ARRAY``)."""

    function = "JSONB_AGG"
    output_field = JSONField()
    allow_distinct = False

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra)
