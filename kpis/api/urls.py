from django.urls import path
from rest_framework.routers import SimpleRouter

from kpis.api import views

router = SimpleRouter()  # the API root lists routers; the KPIs are plain views

app_name = "kpis-api"
urlpatterns = [
    path("kpis/", views.KpiListView.as_view(), name="kpi-list"),
    path("kpis/<str:key>/series/", views.KpiSeriesView.as_view(), name="kpi-series"),
]
