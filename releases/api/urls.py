from rest_framework.routers import SimpleRouter

from releases.api import views

router = SimpleRouter()
router.register("releases", views.ReleaseViewSet, basename="release")
router.register("change-requests", views.ChangeRequestViewSet, basename="change-request")
router.register("release-categories", views.ReleaseCategoryViewSet, basename="release-category")

app_name = "releases-api"
urlpatterns = [*router.urls]
