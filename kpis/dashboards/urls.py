from django.urls import path

from kpis.dashboards import views

app_name = "dashboards"
urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/cards/<slug:key>/", views.card, name="card"),
]
