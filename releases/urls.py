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
]
