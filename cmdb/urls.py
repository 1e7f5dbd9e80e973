from django.urls import path

from cmdb import views

app_name = "cmdb"
urlpatterns = [
    path("", views.ci_list, name="ci-list"),
    path("cis/new/", views.ci_create, name="ci-create"),
    path("cis/<id:pk>/", views.ci_detail, name="ci-detail"),
    path("cis/<id:pk>/edit/", views.ci_edit, name="ci-edit"),
    path("cis/<id:pk>/retire/", views.ci_retire, name="ci-retire"),
    path("cis/<id:pk>/relationships/", views.relationship_add, name="relationship-add"),
    path("cis/<id:pk>/software/", views.software_record, name="software-record"),
    path("relationships/<id:pk>/delete/", views.relationship_remove, name="relationship-delete"),
    path("installed-software/<id:pk>/remove/", views.software_remove, name="software-remove"),
    path("licences/", views.licence_list, name="licence-list"),
    path("licences/new/", views.licence_create, name="licence-create"),
    path("licences/<id:pk>/", views.licence_detail, name="licence-detail"),
    path("licences/<id:pk>/edit/", views.licence_edit, name="licence-edit"),
    path("errors/", views.error_list, name="error-list"),
    path("errors/<id:pk>/row/", views.error_row, name="error-row"),
    path("errors/<id:pk>/resolve/", views.error_resolve, name="error-resolve"),
]
