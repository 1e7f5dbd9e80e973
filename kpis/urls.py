from django.urls import path

from kpis import views

app_name = "kpis"
urlpatterns = [
    path("", views.kpi_page, name="kpi-page"),
    path("export.csv", views.kpi_export, name="kpi-export"),
]
