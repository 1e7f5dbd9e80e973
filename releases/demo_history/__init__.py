"""A believable past: months of releases that ended — completed, backed out or cancelled — with
their timelines, targets, change requests, back-out decisions and overrides, and the CMDB and
licence errors found meanwhile. Every row holds what the services would have written had the
release really been walked through them (the counters agree with the targets, ``ended_at`` with
the transition that ended it, each timeline is a legal path through the state machine), so the
KPI page has a year to show.

It writes in bulk and never through the services: rows are generated lazily, a chunk of releases
at a time, and inserted with ``bulk_create`` in batches — on PostgreSQL with a binary COPY per
table and chunk — so a demo year takes a moment and a benchmark's 100,000 releases (a million
targets) a few minutes. Deterministic
for a seed and a database: ``random.Random(seed)`` decides everything; only the release numbers
and the times (relative to now) depend on what is already there.

- ``estate``: the users, release categories and release units (with their CIs) it needs
- ``generator``: ``history_generate``, planning the span and running the chunks
- ``timeline``: one release from requested to verified (or cancelled)
- ``deployment``: distribution, installation, failure conditions, back-outs and overrides
- ``errors``: CMDB and licence errors, inside releases and out
- ``writing``: offsets to rows, and the bulk inserts (COPY on PostgreSQL)
- ``constants``: units of time, sizes and the words the history uses
"""

from releases.demo_history.constants import CATEGORIES, HISTORY_SOURCE, JIRA_SOURCE
from releases.demo_history.estate import (
    HistoryUnit,
    HistoryUsers,
    history_categories,
    history_estate,
    history_present,
    history_units,
    history_users,
)
from releases.demo_history.generator import history_generate

__all__ = [
    "CATEGORIES",
    "HISTORY_SOURCE",
    "JIRA_SOURCE",
    "HistoryUnit",
    "HistoryUsers",
    "history_categories",
    "history_estate",
    "history_generate",
    "history_present",
    "history_units",
    "history_users",
]
