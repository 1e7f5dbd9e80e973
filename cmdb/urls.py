from django.urls import path

from cmdb import views

app_name = "cmdb"
urlpatterns = [
    path("", views.ci_list, name="ci-list"),
    path("cis/new/", views.ci_create, name="ci-create"),
    path("cis/<int:pk>/", views.ci_detail, name="ci-detail"),
    path("cis/<int:pk>/edit/", views.ci_edit, name="ci-edit"),
    path("cis/<int:pk>/retire/", views.ci_retire, name="ci-retire"),
    path("cis/<int:pk>/relationships/", views.relationship_add, name="relationship-add"),
    path("cis/<int:pk>/software/", views.software_record, name="software-record"),
    path("relationships/<int:pk>/delete/", views.relationship_remove, name="relationship-delete"),
    path("installed-software/<int:pk>/remove/", views.software_remove, name="software-remove"),
    path("licences/", views.licence_list, name="licence-list"),
    path("licences/new/", views.licence_create, name="licence-create"),
    path("licences/<int:pk>/", views.licence_detail, name="licence-detail"),
    path("licences/<int:pk>/edit/", views.licence_edit, name="licence-edit"),
    path("errors/", views.error_list, name="error-list"),
    path("errors/<int:pk>/row/", views.error_row, name="error-row"),
    path("errors/<int:pk>/resolve/", views.error_resolve, name="error-resolve"),
]
