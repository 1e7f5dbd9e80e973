from django.urls import path
from rest_framework.routers import SimpleRouter

from releases.api import webhooks as views

router = SimpleRouter()
router.register("webhook-sources", views.WebhookSourceViewSet, basename="webhook-source")
router.register("webhook-deliveries", views.WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("webhook-callbacks", views.CallbackDeliveryViewSet, basename="webhook-callback")

app_name = "releases-webhooks"
urlpatterns = [
    path("webhooks/<slug:source>/", views.WebhookReceiveView.as_view(), name="webhook-receive"),
    *router.urls,
]
