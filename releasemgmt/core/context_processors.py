from django.urls import NoReverseMatch, reverse

# (label, URL name, permission needed or None). An entry shows once its URL exists — features
# add their pages, the navigation follows — and only to users who may see it.
NAVIGATION = [
    ("Home", "dashboards:home", None),
    ("Releases", "releases:release-list", "releases.view_release"),
    ("Pipeline", "releases:pipeline", "releases.view_release"),
    ("Calendar", "calendar:calendar", "releases.view_release"),
    ("Back-out queue", "releases:backout-queue", "releases.view_release"),
    ("Webhooks", "webhooks:delivery-list", "releases.view_webhookdelivery"),
    ("CMDB", "cmdb:ci-list", "cmdb.view_configurationitem"),
    ("Licences", "cmdb:licence-list", "cmdb.view_licence"),
    ("Errors", "cmdb:error-list", "cmdb.view_discrepancy"),
    ("KPIs", "kpis:kpi-page", "kpis.view_kpisnapshot"),
    ("DSL", "dsl_dhs:product-list", "dsl_dhs.view_softwareproduct"),
    ("DHS", "dsl_dhs:stock-list", "dsl_dhs.view_stock"),
    ("API docs", "api-docs", None),
]


def navigation(request):
    """The navigation bar's entries for this user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for label, url_name, permission in NAVIGATION:
        if permission and not user.has_perm(permission):
            continue
        try:
            items.append((label, reverse(url_name)))
        except NoReverseMatch:
            continue
    if user.is_staff:
        items.append(("Admin", reverse("admin:index")))
    return {"nav_items": items}
