from releasemgmt.core.api.routers import Router
from releases.api import views

router = Router()
router.register("releases", views.ReleaseViewSet, basename="release")
router.register("change-requests", views.ChangeRequestViewSet, basename="change-request")
router.register("release-categories", views.ReleaseCategoryViewSet, basename="release-category")

app_name = "releases-api"
urlpatterns = [*router.urls]
