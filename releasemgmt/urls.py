from importlib import import_module

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from kpis.metrics import metrics as kpi_metrics
from releasemgmt.core import views as core_views
from releasemgmt.core.api.views import ApiRootView

handler400 = core_views.bad_request
handler403 = core_views.permission_denied
handler404 = core_views.page_not_found
handler500 = core_views.server_error

# Each app's API module has `app_name` (its namespace), a `router` and `urlpatterns`. The ones
# called at fleet and burst rate come first: a URL is matched against every pattern before it.
API_MODULES = [
    "releasemgmt.core.api.urls",
    "releases.webhooks.api.urls",
    "releases.api.deployment_urls",
    "dsl_dhs.api.urls",
    "cmdb.api.urls",
    "releases.api.urls",
    "kpis.api.urls",
]
_api = [import_module(name) for name in API_MODULES]

api_v1 = [
    path("", ApiRootView.as_view(routers=[(m.app_name, m.router) for m in _api]), name="api-root"),
    *[path("", include(m.__name__)) for m in _api],
]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", kpi_metrics, name="metrics"),
    path("accounts/", include("releasemgmt.accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # DRF marks its views login_not_required (it authenticates itself); the docs are a page, so
    # anonymous visitors are sent to the login form instead of a 401.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("releases/webhooks/", include("releases.webhooks.urls")),
    path("releases/", include("releases.urls")),
    path("calendar/", include("releases.calendar.urls")),
    path("kpis/", include("kpis.urls")),
    path("cmdb/import/", include("cmdb.import_urls")),
    path("cmdb/", include("cmdb.urls")),
    path("", include("dsl_dhs.urls")),
    # The home page: the role dashboards (before core's, which keeps "core:home" as its name).
    path("", include("kpis.dashboards.urls")),
    path("", include("releasemgmt.core.urls")),
]
