"""Every write of releases. Import from here: ``from releases import services``."""

from releases.services.changes import (
    change_request_record,
    change_request_upsert,
    release_create_from_change,
)
from releases.services.levels import (
    compute_test_scope,
    release_baseline,
    release_fill_full_contents,
)
from releases.services.lifecycle import (
    REASON_REQUIRED,
    TRANSITIONS,
    available_transitions,
    condition_problems,
    release_transition,
    transition_permission,
    transition_problems,
    transitions_from,
)
from releases.services.planning import (
    release_backout_plan_set,
    release_create,
    release_failure_condition_add,
    release_failure_condition_remove,
    release_item_add,
    release_item_remove,
    release_targets_set,
    release_update_plan,
    rollout_task_complete,
    test_item_sign_off,
)
from releases.services.verification import run_verification

__all__ = [
    "REASON_REQUIRED",
    "TRANSITIONS",
    "available_transitions",
    "change_request_record",
    "change_request_upsert",
    "compute_test_scope",
    "condition_problems",
    "release_backout_plan_set",
    "release_baseline",
    "release_create",
    "release_create_from_change",
    "release_failure_condition_add",
    "release_failure_condition_remove",
    "release_fill_full_contents",
    "release_item_add",
    "release_item_remove",
    "release_targets_set",
    "release_transition",
    "release_update_plan",
    "rollout_task_complete",
    "run_verification",
    "test_item_sign_off",
    "transition_permission",
    "transition_problems",
    "transitions_from",
]
