from django.urls import path

from releases.webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("", views.delivery_list, name="delivery-list"),
    path("callbacks/", views.callback_list, name="callback-list"),
    path("callbacks/<id:pk>/resend/", views.callback_resend, name="callback-resend"),
    path("<id:pk>/", views.delivery_detail, name="delivery-detail"),
    path("<id:pk>/replay/", views.delivery_replay, name="delivery-replay"),
]
