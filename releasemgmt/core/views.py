import sys

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from releasemgmt.core.selectors import health_report


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """200 when the database, broker, worker and beat are all fine; 503 naming what is not."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


def health_panel(request):
    """The dashboard's health card, refreshed by htmx."""
    healthy, report = health_report()
    return render(request, "core/partials/_health.html", {"health": report, "healthy": healthy})


def _wants_json(request) -> bool:
    return request.path_info.startswith(
        settings.API_PREFIX
    ) or "application/json" in request.headers.get("Accept", "")


def _error(request, status: int, message: str, template: str):
    if _wants_json(request):
        return JsonResponse({"detail": message}, status=status)
    # Rendered without the request: its context processors may need the database that just failed.
    return HttpResponse(
        loader.get_template(template).render({"message": message, "status": status}), status=status
    )


def bad_request(request, exception=None):
    return _error(request, 400, "The request could not be understood.", "errors/error.html")


def permission_denied(request, exception=None):
    return _error(request, 403, "You do not have permission to do this.", "errors/error.html")


def page_not_found(request, exception=None):
    return _error(
        request,
        404,
        "Nothing is here. Check the address, or go back to the dashboard.",
        "errors/error.html",
    )


def server_error(request):
    error = sys.exc_info()[1]
    if isinstance(error, DatabaseError):
        return _error(
            request,
            503,
            "The database is unavailable right now. Nothing was saved; try again in a minute. "
            "Operators: see /healthz.",
            "errors/error.html",
        )
    return _error(
        request, 500, "Something went wrong on our side. It has been logged.", "errors/error.html"
    )
