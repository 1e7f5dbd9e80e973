from django.urls import path

from releases import views

app_name = "releases"
urlpatterns = [
    path("", views.release_list, name="release-list"),
    path("new/", views.release_create, name="release-create"),
    path("pipeline/", views.pipeline, name="pipeline"),
    path("pipeline/board/", views.pipeline_board, name="pipeline-board"),
    path("changes/", views.change_list, name="change-list"),
    path("changes/<int:pk>/", views.change_detail, name="change-detail"),
    path("backout-queue/", views.backout_queue, name="backout-queue"),
    path("backout-queue/list/", views.backout_queue_list, name="backout-queue-list"),
    path("overrides/", views.override_list, name="override-list"),
    path("backout-queue/badge/", views.backout_badge, name="backout-badge"),
    path("freeze-windows/", views.freeze_window_list, name="freeze-window-list"),
    path("freeze-windows/new/", views.freeze_window_create, name="freeze-window-create"),
    path(
        "freeze-windows/<int:pk>/delete/",
        views.freeze_window_delete,
        name="freeze-window-delete",
    ),
    path("<int:pk>/", views.release_detail, name="release-detail"),
    path("<int:pk>/edit/", views.release_edit, name="release-edit"),
    path("<int:pk>/plan/", views.release_plan, name="release-plan"),
    path("<int:pk>/plan/schedule/", views.schedule_set, name="schedule-set"),
    path("<int:pk>/plan/items/", views.item_add, name="item-add"),
    path("<int:pk>/plan/items/<int:item_pk>/remove/", views.item_remove, name="item-remove"),
    path("<int:pk>/plan/targets/", views.targets_set, name="targets-set"),
    path("<int:pk>/plan/backout/", views.backout_plan_set, name="backout-set"),
    path("<int:pk>/plan/conditions/", views.failure_condition_add, name="condition-add"),
    path(
        "<int:pk>/plan/conditions/<int:condition_pk>/remove/",
        views.failure_condition_remove,
        name="condition-remove",
    ),
    path("<int:pk>/transitions/<str:name>/", views.release_transition, name="release-transition"),
    path("<int:pk>/tests/<int:item_pk>/sign-off/", views.test_sign_off, name="test-sign-off"),
    path(
        "<int:pk>/rollout-tasks/<int:task_pk>/done/",
        views.rollout_task_done,
        name="rollout-task-done",
    ),
    path("<int:pk>/deployment/", views.deployment_progress, name="deployment-progress"),
    path(
        "<int:pk>/targets/<int:target_pk>/install-now/",
        views.target_install_now,
        name="target-install-now",
    ),
    path(
        "<int:pk>/install-despite-freeze/",
        views.install_despite_freeze,
        name="install-despite-freeze",
    ),
    path("<int:pk>/verification/", views.verification_report, name="verification-report"),
    path("<int:pk>/backout/approve/", views.backout_approve, name="backout-approve"),
    path("<int:pk>/backout/overrides/", views.backout_override_request, name="override-request"),
    path(
        "<int:pk>/backout/overrides/<int:override_pk>/confirm/",
        views.backout_override_confirm,
        name="override-confirm",
    ),
]
