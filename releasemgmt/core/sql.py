"""Database expressions Django does not ship, for every database the project runs on (PostgreSQL,
SQLite)."""

from django.db.models import JSONField, Subquery


class JsonRows(Subquery):
    """The rows of ``queryset`` — a ``values()`` queryset of plain columns, ordered, usually
    filtered by an ``OuterRef`` — as one JSON array of objects keyed by the values' names (``[]``
    when none): the related rows of each row of a list, read in the list's own statement instead
    of a second query. The array keeps the queryset's order."""

    output_field = JSONField()

    def as_sql(self, compiler, connection, template=None, **extra_context):
        query = self.query.clone()
        query.subquery = True
        inner, params = query.as_sql(compiler, connection)  # "(SELECT … ORDER BY …)"
        quote = connection.ops.quote_name
        names = [*query.values_select, *query.annotation_select]
        # only the values' own names are formatted in: they are the queryset's, not input
        pairs = ", ".join(f"'{name}', rows.{quote(name)}" for name in names)
        # An aggregate reads an ordered subquery in its order. The array comes back as text, as a
        # JSONField's value does (``json``, not ``jsonb``: nothing to index, half the work).
        if connection.vendor == "postgresql":
            aggregate = f"COALESCE(JSON_AGG(JSON_BUILD_OBJECT({pairs})), '[]')::text"
        else:
            aggregate = f"JSON_GROUP_ARRAY(JSON_OBJECT({pairs}))"
        return f"(SELECT {aggregate} FROM {inner} rows)", params  # noqa: S608
