from rest_framework.routers import SimpleRouter

from kpis.api import views

router = SimpleRouter()
router.register("kpis", views.KpiViewSet, basename="kpi")

app_name = "kpis-api"
urlpatterns = router.urls
