from kpis.api import views
from releasemgmt.core.api.routers import Router

router = Router()
router.register("kpis", views.KpiViewSet, basename="kpi")

app_name = "kpis-api"
urlpatterns = router.urls
