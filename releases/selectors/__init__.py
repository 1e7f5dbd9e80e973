"""Every non-trivial read of releases, shared by the pages, the API and the dashboards; one module
per concern, as in ``releases.services``:

- ``releases``: the release list and its state counts, a release's page, the pipeline, changes;
- ``deployment``: an agent's work, a release's progress and what happens next;
- ``backout``: the back-out queue, the badge, the overrides.
"""

from releases.selectors.backout import (
    backout_queue,
    backout_queue_with_progress,
    backout_waiting,
    override_list,
)
from releases.selectors.deployment import (
    DOWNLOAD_STATES,
    agent_work,
    installation_outlook,
    release_progress,
)
from releases.selectors.releases import (
    RELEASE_SORTS,
    attach_figures,
    attach_health,
    baseline_diff,
    change_request_list,
    pipeline,
    release_detail,
    release_list,
    release_list_rows,
    release_list_sorted,
    release_state_counts,
)

__all__ = [
    "DOWNLOAD_STATES",
    "RELEASE_SORTS",
    "agent_work",
    "attach_figures",
    "attach_health",
    "backout_queue",
    "backout_queue_with_progress",
    "backout_waiting",
    "baseline_diff",
    "change_request_list",
    "installation_outlook",
    "override_list",
    "pipeline",
    "release_detail",
    "release_list",
    "release_list_rows",
    "release_list_sorted",
    "release_progress",
    "release_state_counts",
]
