from django.urls import path

from releasemgmt.core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("partials/health/", views.health_panel, name="health-panel"),
]
