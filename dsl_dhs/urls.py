from django.urls import path

from dsl_dhs import views

app_name = "dsl_dhs"
urlpatterns = [
    path("dsl/", views.product_list, name="product-list"),
    path("dsl/products/new/", views.product_create, name="product-create"),
    path("dsl/products/<int:pk>/", views.product_detail, name="product-detail"),
    path("dsl/products/<int:pk>/edit/", views.product_edit, name="product-edit"),
    path("dsl/versions/new/", views.version_upload, name="version-upload"),
    path("dsl/versions/<int:pk>/", views.version_detail, name="version-detail"),
    path("dsl/versions/<int:pk>/artefact/", views.version_artefact, name="version-artefact"),
    path("dsl/versions/<int:pk>/status/", views.version_status, name="version-status"),
    path("dsl/versions/<int:pk>/verify/", views.version_verify, name="version-verify"),
    path("dhs/", views.stock_list, name="stock-list"),
    path("dhs/stock/<int:pk>/reserve/", views.stock_reserve, name="stock-reserve"),
    path("dhs/stock/<int:pk>/adjust/", views.stock_adjust, name="stock-adjust"),
    path("dhs/reservations/", views.reservation_list, name="reservation-list"),
    path(
        "dhs/reservations/<int:pk>/consume/",
        views.reservation_consume,
        name="reservation-consume",
    ),
    path("dhs/reservations/<int:pk>/return/", views.reservation_return, name="reservation-return"),
]
