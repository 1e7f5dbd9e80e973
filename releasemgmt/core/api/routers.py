from rest_framework.routers import SimpleRouter

from releasemgmt.core.converters import ID_REGEX


class Router(SimpleRouter):
    """The apps' API router. A detail route matches a primary key only (digits, at most 18), so
    ``/releases/abc/`` is a 404 at the URL and never reaches a view as an id it cannot read. A
    viewset keyed otherwise declares its own ``lookup_value_regex`` (``KpiViewSet``)."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        if getattr(viewset, "lookup_value_regex", None) is None:
            viewset = type(viewset.__name__, (viewset,), {"lookup_value_regex": ID_REGEX})
        return super().get_lookup_regex(viewset, lookup_prefix)
