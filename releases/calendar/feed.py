"""A user's release calendar as iCalendar (RFC 5545), for Outlook, Google Calendar and the like:
one VEVENT per distribution or installation window and per freeze window in a range around now.
Times are written in UTC (``…Z``); the calendar app shows them in its own zone, and the feed names
the user's zone (X-WR-TIMEZONE). UIDs are stable, so a refresh updates events instead of
duplicating them."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from releases.calendar import selectors
from releases.choices import ReleaseState

PAST = timedelta(days=90)
AHEAD = timedelta(days=365)
REFRESH = timedelta(hours=1)
S = ReleaseState
# Before verification a window can still move: calendar apps show it as tentative.
TENTATIVE_STATES = frozenset(
    {
        S.REQUESTED,
        S.PLANNED,
        S.BUILT,
        S.TESTING,
        S.ACCEPTED,
        S.ROLLOUT_PLANNED,
        S.VERIFICATION_FAILED,
    }
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _status(state: str) -> str:
    if state == S.CANCELLED:
        return "CANCELLED"
    return "TENTATIVE" if state in TENTATIVE_STATES else "CONFIRMED"


def _window_event(window, *, now, uid_domain, release_url) -> Event:
    release = window.release
    url = release_url(release)
    lines = [
        f"{window.kind_label} window of {release.number} {release.title}.",
        f"State: {release.get_state_display()}.",
    ]
    if release.release_unit_id:
        lines.append(f"Release unit: {release.release_unit}.")
    if window.conflicts:
        lines.append("Conflicts:")
        lines.extend(f"- {conflict.message}" for conflict in window.conflicts)
    lines.append(url)
    event = Event()
    event.add("uid", f"release-{release.pk}-{window.kind}@{uid_domain}")
    event.add("dtstamp", _utc(now))
    event.add("dtstart", _utc(window.start))
    event.add("dtend", _utc(window.end))
    event.add("last-modified", _utc(release.updated_at))
    prefix = "⚠ " if window.conflicts else ""
    event.add("summary", f"{prefix}{release.number} {release.title} · {window.kind_label}")
    event.add("description", "\n".join(lines))
    event.add("url", url)
    event.add("categories", [f"{window.kind_label} window"])
    event.add("status", _status(release.state))
    event.add("transp", "TRANSPARENT")  # a window on the calendar does not make anyone busy
    return event


def _freeze_event(freeze, *, now, uid_domain) -> Event:
    event = Event()
    event.add("uid", f"freeze-{freeze.pk}@{uid_domain}")
    event.add("dtstamp", _utc(now))
    event.add("dtstart", _utc(freeze.start))
    event.add("dtend", _utc(freeze.end))
    event.add("last-modified", _utc(freeze.created_at))
    event.add("summary", f"Freeze: {freeze.reason}")
    event.add(
        "description",
        f"Freeze window for {selectors.freeze_scope_label(freeze)}: no installation may be scheduled or "
        f"started. {freeze.reason}",
    )
    event.add("categories", ["Freeze window"])
    event.add("transp", "TRANSPARENT")
    return event


def calendar_feed(
    *,
    user,
    now: datetime,
    uid_domain: str,
    release_url: Callable,
) -> bytes:
    """The feed of ``user`` as iCalendar bytes: windows and freezes from ``PAST`` before ``now``
    to ``AHEAD`` after it, conflicts in the descriptions. ``release_url(release)`` gives the
    absolute address of a release's page. The same fixed number of queries as the page."""
    period = selectors.calendar_period(start=now - PAST, end=now + AHEAD)
    calendar = Calendar()
    calendar.add("prodid", "-//releasemgmt//Release calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "Releases")
    calendar.add("x-wr-timezone", user.time_zone)
    calendar.add(
        "x-wr-caldesc",
        "Distribution, installation and freeze windows from releasemgmt for "
        f"{user.get_username()}. Times are in UTC; {user.get_username()}'s time zone is "
        f"{user.time_zone}.",
    )
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for window in period.windows:
        calendar.add_component(
            _window_event(window, now=now, uid_domain=uid_domain, release_url=release_url)
        )
    for freeze in period.freezes:
        calendar.add_component(_freeze_event(freeze, now=now, uid_domain=uid_domain))
    return calendar.to_ical()
