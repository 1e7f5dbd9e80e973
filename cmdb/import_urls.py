from django.urls import path

from cmdb import import_views

app_name = "cmdb-import"
urlpatterns = [
    path("", import_views.import_page, name="import"),
    path("samples/<str:kind>.csv", import_views.sample, name="sample"),
]
