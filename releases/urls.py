from django.urls import path

from releases.views import (
    changes,
    decision,
    deployment,
    freeze_windows,
    lists,
    plan,
    queue,
    release,
    verification,
)

app_name = "releases"
urlpatterns = [
    path("", lists.release_list, name="release-list"),
    path("new/", plan.release_create, name="release-create"),
    path("pipeline/", lists.pipeline, name="pipeline"),
    path("pipeline/board/", lists.pipeline_board, name="pipeline-board"),
    path("changes/", changes.change_list, name="change-list"),
    path("changes/<int:pk>/", changes.change_detail, name="change-detail"),
    path("backout-queue/", queue.backout_queue, name="backout-queue"),
    path("backout-queue/list/", queue.backout_queue_list, name="backout-queue-list"),
    path("overrides/", lists.override_list, name="override-list"),
    path("backout-queue/badge/", queue.backout_badge, name="backout-badge"),
    path("freeze-windows/", freeze_windows.freeze_window_list, name="freeze-window-list"),
    path("freeze-windows/new/", freeze_windows.freeze_window_create, name="freeze-window-create"),
    path(
        "freeze-windows/<int:pk>/delete/",
        freeze_windows.freeze_window_delete,
        name="freeze-window-delete",
    ),
    path("<int:pk>/", release.release_detail, name="release-detail"),
    path("<int:pk>/edit/", plan.release_edit, name="release-edit"),
    path("<int:pk>/plan/", plan.release_plan, name="release-plan"),
    path("<int:pk>/plan/schedule/", plan.schedule_set, name="schedule-set"),
    path("<int:pk>/plan/items/", plan.item_add, name="item-add"),
    path("<int:pk>/plan/items/<int:item_pk>/remove/", plan.item_remove, name="item-remove"),
    path("<int:pk>/plan/targets/", plan.targets_set, name="targets-set"),
    path("<int:pk>/plan/backout/", plan.backout_plan_set, name="backout-set"),
    path("<int:pk>/plan/conditions/", plan.failure_condition_add, name="condition-add"),
    path(
        "<int:pk>/plan/conditions/<int:condition_pk>/remove/",
        plan.failure_condition_remove,
        name="condition-remove",
    ),
    path("<int:pk>/transitions/<str:name>/", release.release_transition, name="release-transition"),
    path("<int:pk>/tests/<int:item_pk>/sign-off/", release.test_sign_off, name="test-sign-off"),
    path(
        "<int:pk>/rollout-tasks/<int:task_pk>/done/",
        release.rollout_task_done,
        name="rollout-task-done",
    ),
    path("<int:pk>/deployment/", deployment.deployment_progress, name="deployment-progress"),
    path(
        "<int:pk>/targets/<int:target_pk>/install-now/",
        deployment.target_install_now,
        name="target-install-now",
    ),
    path(
        "<int:pk>/install-despite-freeze/",
        deployment.install_despite_freeze,
        name="install-despite-freeze",
    ),
    path("<int:pk>/verification/", verification.verification_report, name="verification-report"),
    path("<int:pk>/backout/approve/", decision.backout_approve, name="backout-approve"),
    path("<int:pk>/backout/overrides/", decision.backout_override_request, name="override-request"),
    path(
        "<int:pk>/backout/overrides/<int:override_pk>/confirm/",
        decision.backout_override_confirm,
        name="override-confirm",
    ),
]
