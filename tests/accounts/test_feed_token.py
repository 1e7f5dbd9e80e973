"""The calendar feed token and the iCalendar feed behind it: stored only as a digest, one active
per user, created/renewed/revoked on the account page and audited; the feed needs no login,
answers text/calendar that parses, holds the windows and freezes in UTC with stable UIDs, and
answers 404 for an unknown or revoked token or a user who is deactivated or lost the permission."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from releasemgmt.accounts.models import FeedToken, hash_token
from releasemgmt.accounts.services import feed_token_issue, feed_token_revoke
from releasemgmt.core.exceptions import DomainPermissionDenied
from releasemgmt.core.models import AuditEvent
from releases.models import FreezeWindow, ReleaseTarget
from tests.factories import ConfigurationItemFactory, ReleaseFactory, UserFactory

pytestmark = pytest.mark.django_db
ACCOUNT = "/accounts/"


def feed_url(raw: str) -> str:
    return reverse("calendar:feed", kwargs={"token": raw})


@pytest.fixture
def manager(role_user):
    return role_user("release_manager", time_zone="Europe/Berlin")


@pytest.fixture
def release():
    """A release with both windows in the next weeks, and one far outside the feed's range."""
    now = timezone.now().replace(microsecond=0)
    release = ReleaseFactory(
        title="Payroll client 5.2",
        state="verified",
        distribution_start=now + timedelta(days=10),
        distribution_end=now + timedelta(days=10, hours=4),
        installation_start=now + timedelta(days=11),
        installation_end=now + timedelta(days=11, hours=3),
        with_plan=False,
    )
    ReleaseTarget.objects.create(release=release, ci=ConfigurationItemFactory())
    ReleaseFactory(
        title="Far away",
        installation_start=now + timedelta(days=500),
        installation_end=now + timedelta(days=501),
        with_plan=False,
    )
    return release


def parse(response) -> Calendar:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def vevents(calendar: Calendar) -> dict[str, object]:
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


# The token


def test_the_token_is_stored_only_as_a_digest_and_audited(manager):
    token, raw = feed_token_issue(user=manager, by=manager)

    assert raw.startswith("rmf_") and len(raw) > 40
    assert token.digest == hash_token(raw) != raw
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_feedtoken")
        rows = cursor.fetchall()
    assert not any(raw in str(value) for row in rows for value in row)
    assert AuditEvent.objects.filter(action="feed_token.issue", object_id=str(token.pk)).exists()


def test_renewing_revokes_the_old_token_so_one_stays_active(client, manager):
    old, old_raw = feed_token_issue(user=manager, by=manager)
    new, new_raw = feed_token_issue(user=manager, by=manager)

    old.refresh_from_db()
    assert old.revoked_at is not None and new.revoked_at is None
    assert FeedToken.objects.filter(user=manager, revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="feed_token.revoke", object_id=str(old.pk)).exists()
    assert client.get(feed_url(old_raw)).status_code == 404
    assert client.get(feed_url(new_raw)).status_code == 200


def test_the_database_refuses_a_second_active_token(manager):
    feed_token_issue(user=manager, by=manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedToken.objects.create(user=manager, digest="0" * 64, hint="rmf_x")


def test_nobody_creates_or_revokes_someone_elses_token(manager, role_user):
    other = role_user("release_manager")
    with pytest.raises(DomainPermissionDenied):
        feed_token_issue(user=manager, by=other)
    with pytest.raises(DomainPermissionDenied):
        feed_token_revoke(user=manager, by=other)


# The account page


def test_the_account_page_creates_the_address_and_shows_it_once(client, manager):
    client.force_login(manager)
    page = client.get(ACCOUNT).content.decode()
    assert "Create feed address" in page
    assert "Subscribe from web" in page and "From URL" in page  # Outlook and Google

    response = client.post(reverse("accounts:feed-token-issue"))
    assert response.status_code == 302

    shown = client.get(ACCOUNT).content.decode()
    url = re.search(r'id="new-feed-url">([^<]+)<', shown).group(1)
    assert url.startswith("http://testserver/calendar/feed/rmf_") and url.endswith(".ics")
    assert client.get(url.removeprefix("http://testserver")).status_code == 200
    token = FeedToken.objects.get(user=manager, revoked_at__isnull=True)
    assert token.last_used_at is not None

    again = client.get(ACCOUNT).content.decode()
    assert url not in again
    assert "Renew address" in again and token.hint in again


def test_the_account_page_revokes_the_address(client, manager):
    _, raw = feed_token_issue(user=manager, by=manager)
    client.force_login(manager)

    response = client.post(reverse("accounts:feed-token-revoke"), follow=True)

    assert "Calendar feed address revoked" in response.content.decode()
    assert "Create feed address" in response.content.decode()
    assert client.get(feed_url(raw)).status_code == 404
    assert AuditEvent.objects.filter(action="feed_token.revoke").count() == 1


def test_without_the_view_permission_there_is_no_feed_to_create(client):
    user = UserFactory()
    client.force_login(user)

    assert "Create feed address" not in client.get(ACCOUNT).content.decode()
    assert client.post(reverse("accounts:feed-token-issue")).status_code == 403
    assert not FeedToken.objects.filter(user=user).exists()


# The feed


def test_the_feed_holds_both_windows_and_the_freezes_in_utc(client, manager, release):
    freeze = FreezeWindow.objects.create(
        start=release.installation_start - timedelta(hours=1),
        end=release.installation_start + timedelta(hours=1),
        reason="Quarter close",
    )
    _, raw = feed_token_issue(user=manager, by=manager)

    response = client.get(feed_url(raw))  # no login: the token is the credential

    calendar = parse(response)
    assert calendar["X-WR-TIMEZONE"] == "Europe/Berlin"
    assert "Europe/Berlin" in str(calendar["X-WR-CALDESC"])
    events = vevents(calendar)
    host = "testserver"
    installation = events[f"release-{release.pk}-installation@{host}"]
    distribution = events[f"release-{release.pk}-distribution@{host}"]
    frozen = events[f"freeze-{freeze.pk}@{host}"]
    assert len(events) == 3  # the release 500 days ahead is outside the feed's range
    assert installation.decoded("DTSTART") == release.installation_start
    assert installation.decoded("DTEND") == release.installation_end
    assert installation.decoded("DTSTART").utcoffset() == timedelta(0)
    assert distribution.decoded("DTSTART") == release.distribution_start
    assert frozen.decoded("DTSTART") == freeze.start
    assert str(installation["SUMMARY"]).endswith(
        f"{release.number} Payroll client 5.2 · Installation"
    )
    assert str(installation["SUMMARY"]).startswith("⚠")  # it overlaps the freeze
    assert "Overlaps the freeze window “Quarter close”" in str(installation["DESCRIPTION"])
    release_address = f"http://testserver/releases/{release.pk}/"
    assert str(installation["URL"]) == release_address
    assert release_address in str(installation["DESCRIPTION"])
    assert str(frozen["SUMMARY"]) == "Freeze: Quarter close"
    assert installation["STATUS"] == "CONFIRMED"
    assert isinstance(installation.decoded("DTSTAMP"), datetime)
    body = response.content.decode()
    start = release.installation_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert f"DTSTART:{start}" in body


def test_uids_are_stable_between_fetches(client, manager, release):
    _, raw = feed_token_issue(user=manager, by=manager)
    first = set(vevents(parse(client.get(feed_url(raw)))))
    second = set(vevents(parse(client.get(feed_url(raw)))))
    assert first == second and len(first) == 2


def test_unknown_or_revoked_tokens_answer_404(client, manager):
    assert client.get(feed_url("rmf_not-a-real-token")).status_code == 404
    _, raw = feed_token_issue(user=manager, by=manager)
    feed_token_revoke(user=manager, by=manager)
    assert client.get(feed_url(raw)).status_code == 404


def test_a_deactivated_user_s_feed_answers_404(client, manager, release):
    _, raw = feed_token_issue(user=manager, by=manager)
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    assert client.get(feed_url(raw)).status_code == 404


def test_a_user_who_lost_the_view_permission_gets_404(client, manager, release):
    _, raw = feed_token_issue(user=manager, by=manager)
    manager.groups.clear()
    assert client.get(feed_url(raw)).status_code == 404


def test_the_feed_costs_a_fixed_number_of_queries(client, manager, django_assert_max_num_queries):
    _, raw = feed_token_issue(user=manager, by=manager)
    start = timezone.now() + timedelta(days=3)
    shared = ConfigurationItemFactory()
    for n in range(30):
        release = ReleaseFactory(
            installation_start=start + timedelta(hours=n),
            installation_end=start + timedelta(hours=n + 2),
            with_plan=False,
        )
        ReleaseTarget.objects.create(release=release, ci=shared)
    client.get(feed_url(raw))  # warm the permission cache

    with django_assert_max_num_queries(10):
        calendar = parse(client.get(feed_url(raw)))

    assert len(vevents(calendar)) == 30
    assert sum("Shares target CI" in str(e["DESCRIPTION"]) for e in calendar.walk("VEVENT")) == 30
