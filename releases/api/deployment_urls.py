from django.urls import path

from releasemgmt.core.api.routers import Router
from releases.api import deployment as views

router = Router()
router.register("freeze-windows", views.FreezeWindowViewSet, basename="freeze-window")

app_name = "releases-deployment"
urlpatterns = [
    path("agent/work/", views.AgentWorkView.as_view(), name="agent-work"),
    path("agent/heartbeat/", views.AgentHeartbeatView.as_view(), name="agent-heartbeat"),
    path("release-targets/", views.TargetListView.as_view(), name="target-list"),
    path(
        "release-targets/<id:pk>/distribution/",
        views.DistributionReportView.as_view(),
        name="target-distribution",
    ),
    path(
        "release-targets/<id:pk>/installation/",
        views.InstallationReportView.as_view(),
        name="target-installation",
    ),
    path(
        "release-targets/<id:pk>/backout/",
        views.BackoutReportView.as_view(),
        name="target-backout",
    ),
    path(
        "release-targets/<id:pk>/install-now/",
        views.InstallNowView.as_view(),
        name="target-install-now",
    ),
    path(
        "releases/<id:pk>/health-signals/", views.HealthSignalView.as_view(), name="health-signal"
    ),
    path(
        "releases/<id:pk>/retry-failed-targets/",
        views.RetryFailedTargetsView.as_view(),
        name="retry-failed-targets",
    ),
    path(
        "releases/<id:pk>/overrides/", views.OverrideRequestView.as_view(), name="override-request"
    ),
    path(
        "overrides/<id:pk>/confirm/", views.OverrideConfirmView.as_view(), name="override-confirm"
    ),
    path("backout-queue/", views.BackoutQueueView.as_view(), name="backout-queue"),
    *router.urls,
]
