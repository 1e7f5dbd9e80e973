"""The webhooks' API routes, mounted under ``/api/v1/`` by ``releasemgmt/urls.py`` (namespace
``releases-webhooks``): the signed receiver and the management endpoints."""

from django.urls import path

from releasemgmt.core.api.routers import Router
from releases.webhooks.api import views
from releases.webhooks.api.receiver import WebhookReceiveView

router = Router()
router.register("webhook-sources", views.WebhookSourceViewSet, basename="webhook-source")
router.register("webhook-deliveries", views.WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("webhook-callbacks", views.CallbackDeliveryViewSet, basename="webhook-callback")

app_name = "releases-webhooks"
urlpatterns = [
    path("webhooks/<slug:source>/", WebhookReceiveView.as_view(), name="webhook-receive"),
    *router.urls,
]
