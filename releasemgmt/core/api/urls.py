from django.urls import path

from releasemgmt.core.api import views
from releasemgmt.core.api.routers import Router

router = Router()
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")

app_name = "core-api"
urlpatterns = [path("me/", views.MeView.as_view(), name="me"), *router.urls]
