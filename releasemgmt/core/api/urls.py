from django.urls import path
from rest_framework.routers import SimpleRouter

from releasemgmt.core.api import views

router = SimpleRouter()
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")

app_name = "core-api"
urlpatterns = [path("me/", views.MeView.as_view(), name="me"), *router.urls]
