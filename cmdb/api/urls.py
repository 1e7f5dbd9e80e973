from django.urls import path

from cmdb.api import views
from cmdb.import_views import CMDBImportView
from releasemgmt.core.api.routers import Router

router = Router()
router.register("cmdb/cis", views.ConfigurationItemViewSet, basename="ci")
router.register("cmdb/relationships", views.RelationshipViewSet, basename="relationship")
router.register(
    "cmdb/installed-software", views.InstalledSoftwareViewSet, basename="installed-software"
)
# "licenses": the URL keeps the US spelling the API was specified with.
router.register("cmdb/licenses", views.LicenceViewSet, basename="licence")
router.register("cmdb/errors", views.DiscrepancyViewSet, basename="error")

app_name = "cmdb-api"
urlpatterns = [*router.urls, path("cmdb/imports/", CMDBImportView.as_view(), name="import")]
