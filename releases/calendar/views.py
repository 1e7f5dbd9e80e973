"""The release calendar page (month and week) and the per-user iCalendar feed. Thin: the form
parses the GET parameters, ``selectors.calendar_period`` reads, ``grid`` places the windows on the
days of the viewer's time zone, ``feed`` writes iCalendar."""

from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import Http404, HttpResponse, QueryDict
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from releasemgmt.accounts.models import FeedToken, hash_token
from releases.calendar import feed as ical
from releases.calendar import grid, selectors
from releases.calendar.forms import CalendarForm
from releases.choices import ReleaseState

TEMPLATE = "releases/calendar/calendar.html"


def _query(data: dict, day) -> str:
    """The page's address for another ``day``, keeping the view and the filters."""
    query = QueryDict(mutable=True)
    query["view"] = data["view"]
    query["date"] = day.isoformat()
    if data.get("unit"):
        query["unit"] = str(data["unit"].pk)
    if data.get("environment"):
        query["environment"] = data["environment"]
    if data.get("state"):
        query.setlist("state", data["state"])
    return f"?{query.urlencode()}"


def _filter_context(request, form) -> dict:
    selected = set(request.GET.getlist("state"))
    return {
        "form": form,
        "units": form.fields["unit"].queryset.values_list("id", "identifier"),
        "zone_name": timezone.get_current_timezone_name(),
        "states": [(s.value, s.label, s.value in selected) for s in ReleaseState],
        "selected_state_count": len(selected),
    }


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def calendar(request):
    """Windows and freezes of a month (default: this month in the user's time zone) or a week,
    with the conflicts; filters by unit, environment and state."""
    form = CalendarForm(request.GET)
    context = _filter_context(request, form)
    if not form.is_valid():
        context["errors"] = form.error_lines()
        return render(request, TEMPLATE, context, status=400)
    data = form.cleaned_data
    zone = timezone.get_current_timezone()
    today = timezone.localdate()
    period = grid.period_for(data["view"], data["date"] or today)
    start, end = grid.bounds(period, zone)
    unit = data["unit"]
    found = selectors.calendar_period(
        start=start,
        end=end,
        unit_id=unit.pk if unit else None,
        environment=data["environment"],
        states=data["state"],
    )
    days = grid.lay_out(period, found.windows, found.freezes, zone=zone, today=today)
    context.update(
        {
            "period": period,
            "view": data["view"],
            "views": grid.VIEWS.items(),
            "weeks": grid.weeks(days),
            "weekdays": [day.date for day in days[:7]],
            "found": found,
            "freezes": [(freeze, selectors.freeze_scope_label(freeze)) for freeze in found.freezes],
            "has_entries": any(not day.is_empty for day in days if day.in_view),
            "previous_url": _query(data, period.previous),
            "next_url": _query(data, period.next),
            "today_url": _query(data, today),
            "filtered": bool(unit or data["environment"] or data["state"]),
        }
    )
    return render(request, TEMPLATE, context)


@login_not_required  # the token in the address is the credential
@require_GET
def feed(request, token: str):
    """The iCalendar feed behind a user's feed token. 404 for an unknown or revoked token, and
    when its user is deactivated or may no longer view releases."""
    feed_token = (
        FeedToken.objects.select_related("user")
        .filter(digest=hash_token(token), revoked_at__isnull=True)
        .first()
    )
    user = feed_token.user if feed_token else None
    if user is None or not user.is_active or not user.has_perm("releases.view_release"):
        raise Http404("No calendar feed at this address.")
    now = timezone.now()
    FeedToken.objects.filter(pk=feed_token.pk).update(last_used_at=now)
    body = ical.calendar_feed(
        user=user,
        now=now,
        uid_domain=split_domain_port(request.get_host())[0] or "releasemgmt",
        release_url=lambda release: request.build_absolute_uri(
            reverse("releases:release-detail", args=[release.pk])
        ),
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="releases.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
