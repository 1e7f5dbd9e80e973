"""Reads behind the dashboard cards: one function per card, each answering a dict for its
template. Every card costs a fixed number of queries whatever the history: counts are SQL
aggregates, lists are capped (``LIMIT``) and their related rows joined or prefetched.

Where a list page shows the same items, the card also gives that page's address with the
filters that select them (``url``), so the count on the card is the count on the list.

One module per role (``ops``, ``release_manager``, ``my_releases``, ``change_manager``,
``configuration_manager``, ``auditor``); this package names every card's reader."""

from kpis.dashboards.selectors.auditor import (
    backout_overrides,
)
from kpis.dashboards.selectors.change_manager import (
    deliveries_needing_attention,
    releases_of_cancelled_changes,
)
from kpis.dashboards.selectors.common import LIMIT, MY_RELEASES_LIMIT
from kpis.dashboards.selectors.configuration_manager import (
    licences_near_exhaustion,
    open_errors_by_age,
    quarantined_versions,
    verification_failures,
)
from kpis.dashboards.selectors.my_releases import (
    my_releases,
    next_step,
    plan_problems,
)
from kpis.dashboards.selectors.ops import (
    backouts_waiting,
    halts_and_automatic_backouts,
    live_deployments,
)
from kpis.dashboards.selectors.release_manager import (
    freeze_windows_coming,
    installations_due,
    licence_shortfalls,
    stuck_releases,
)

__all__ = [
    "LIMIT",
    "MY_RELEASES_LIMIT",
    "backout_overrides",
    "backouts_waiting",
    "deliveries_needing_attention",
    "freeze_windows_coming",
    "halts_and_automatic_backouts",
    "installations_due",
    "licence_shortfalls",
    "licences_near_exhaustion",
    "live_deployments",
    "my_releases",
    "next_step",
    "open_errors_by_age",
    "plan_problems",
    "quarantined_versions",
    "releases_of_cancelled_changes",
    "stuck_releases",
    "verification_failures",
]
