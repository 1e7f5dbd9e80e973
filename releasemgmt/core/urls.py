from django.urls import path
from django.views.generic import RedirectView

from releasemgmt.core import views

app_name = "core"

urlpatterns = [
    # The home page is the role dashboard (kpis.dashboards), routed to this same path ahead of
    # core; the name stays so that links to "core:home" keep leading there.
    path("", RedirectView.as_view(pattern_name="dashboards:home"), name="home"),
    path("partials/health/", views.health_panel, name="health-panel"),
]
