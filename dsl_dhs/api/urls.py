from dsl_dhs.api import views
from releasemgmt.core.api.routers import Router

router = Router()
router.register("dsl/licence-products", views.LicenceProductViewSet, basename="licence-product")
router.register("dsl/products", views.SoftwareProductViewSet, basename="software-product")
router.register("dsl/versions", views.SoftwareVersionViewSet, basename="software-version")
router.register("dhs/locations", views.LocationViewSet, basename="location")
router.register("dhs/models", views.HardwareModelViewSet, basename="hardware-model")
router.register("dhs/stock", views.StockViewSet, basename="stock")
router.register("dhs/reservations", views.ReservationViewSet, basename="reservation")

app_name = "dsl_dhs-api"
urlpatterns = [*router.urls]
