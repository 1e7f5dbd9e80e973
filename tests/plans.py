"""What PostgreSQL would run for a queryset, for tests that check an index serves a query."""

from django.db import connection


def bitmap_plan(queryset) -> str:
    """The plan of ``queryset`` with sequential and plain index scans switched off (inside the
    test's transaction): on a handful of rows the planner would otherwise read the table, and
    only a trigram index can answer ``LIKE '%…%'`` with a bitmap scan."""
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
    return queryset.explain()
