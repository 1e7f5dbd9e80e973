from django.urls import path

from dsl_dhs import views

app_name = "dsl_dhs"
urlpatterns = [
    path("dsl/", views.product_list, name="product-list"),
    path("dsl/products/new/", views.product_create, name="product-create"),
    path("dsl/products/<id:pk>/", views.product_detail, name="product-detail"),
    path("dsl/products/<id:pk>/edit/", views.product_edit, name="product-edit"),
    path("dsl/versions/new/", views.version_upload, name="version-upload"),
    path("dsl/versions/<id:pk>/", views.version_detail, name="version-detail"),
    path("dsl/versions/<id:pk>/artefact/", views.version_artefact, name="version-artefact"),
    path("dsl/versions/<id:pk>/status/", views.version_status, name="version-status"),
    path("dsl/versions/<id:pk>/verify/", views.version_verify, name="version-verify"),
    path("dhs/", views.stock_list, name="stock-list"),
    path("dhs/stock/<id:pk>/reserve/", views.stock_reserve, name="stock-reserve"),
    path("dhs/stock/<id:pk>/adjust/", views.stock_adjust, name="stock-adjust"),
    path("dhs/reservations/", views.reservation_list, name="reservation-list"),
    path(
        "dhs/reservations/<id:pk>/consume/",
        views.reservation_consume,
        name="reservation-consume",
    ),
    path("dhs/reservations/<id:pk>/return/", views.reservation_return, name="reservation-return"),
]
