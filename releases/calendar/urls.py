from django.urls import path

from releases.calendar import views

app_name = "calendar"
urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("feed/<str:token>.ics", views.feed, name="feed"),
]
