"""The top bar's back-out badge: people who may approve back-outs see, on every page, how many
releases wait for a decision and the soonest deadline, refreshed by htmx from a small fragment;
everyone else gets no badge, no polling, and 403 from the fragment. The bar itself: a skip link
first, the navigation in a menu that collapses on narrow screens."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from releases.choices import ReleaseState as S
from releases.templatetags.releases_tags import clock_until
from tests.factories import ReleaseFactory, UserFactory

pytestmark = pytest.mark.django_db

BADGE = reverse("releases:backout-badge")


def waiting(deadline_in: timedelta, **fields):
    now = timezone.now()
    return ReleaseFactory(
        state=S.BACKOUT_REQUIRED,
        backout_required_at=now - timedelta(minutes=5),
        backout_deadline=now + deadline_in,
        with_plan=False,
        **fields,
    )


@pytest.fixture
def ops(client):
    user = UserFactory(username="otto", roles=["ops"])
    client.force_login(user)
    return user


def badge_text(response) -> str:
    html = response.content.decode()
    match = re.search(r'<a href="[^"]+" class="backout-badge[^>]*>(.*?)</a>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else ""


def test_anonymous_callers_get_403_not_the_login_page(client):
    response = client.get(BADGE)
    assert response.status_code == 403
    assert "backout-badge" not in response.content.decode()


def test_people_who_may_not_approve_back_outs_get_403(client):
    waiting(timedelta(minutes=10))
    client.force_login(UserFactory(username="rita", roles=["release_manager"]))
    assert client.get(BADGE).status_code == 403


def test_nothing_shows_when_no_release_waits(client, ops):
    ReleaseFactory(state=S.BACKING_OUT, with_plan=False)
    response = client.get(BADGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="backout-badge"' in html and 'data-count="0"' in html
    assert 'hx-trigger="every 10s"' in html, "the fragment keeps polling"
    assert "back-out" not in badge_text(response) and "<a " not in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_badge_counts_the_waiting_releases_and_shows_the_soonest_deadline(client, ops):
    # given two releases waiting, the soonest deadline 12.5 minutes away, and one backing out
    soonest = waiting(timedelta(minutes=12, seconds=31))
    waiting(timedelta(minutes=40))
    ReleaseFactory(state=S.BACKING_OUT, with_plan=False)

    # when the fragment is polled
    response = client.get(BADGE)

    # then
    html = response.content.decode()
    assert re.fullmatch(r"2 back-outs waiting · 12:(30|31) left", badge_text(response))
    assert 'data-count="2"' in html
    assert f'href="{reverse("releases:backout-queue")}"' in html
    assert f'data-badge-deadline="{soonest.backout_deadline.isoformat()}"' in html


def test_one_waiting_release_reads_in_the_singular(client, ops):
    waiting(timedelta(hours=1, minutes=2, seconds=5))
    assert re.fullmatch(r"1 back-out waiting · 1:02:0[45] left", badge_text(client.get(BADGE)))


def test_the_fragment_costs_a_fixed_number_of_queries(client, ops, django_assert_max_num_queries):
    for minutes in range(1, 31):
        waiting(timedelta(minutes=minutes))
    client.get(BADGE)  # the user's permissions are read once per process and stamp
    # session, user, and the one aggregate over the waiting releases
    with django_assert_max_num_queries(3):
        response = client.get(BADGE)
    assert "30 back-outs waiting" in badge_text(response)


def test_polling_does_not_keep_an_idle_session_alive(client, ops, settings):
    # a page view renews the session (idle timeout); the badge's poll does not
    assert settings.SESSION_SAVE_EVERY_REQUEST
    assert settings.SESSION_COOKIE_NAME in client.get(reverse("cmdb:ci-list")).cookies
    response = client.get(BADGE)
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies


@pytest.mark.parametrize(
    ("left", "clock"),
    [
        (timedelta(minutes=12, seconds=31, milliseconds=500), "12:31"),
        (timedelta(seconds=59, milliseconds=500), "0:59"),
        (timedelta(hours=2, minutes=3, seconds=4, milliseconds=500), "2:03:04"),
        (timedelta(minutes=-3), "0:00"),
    ],
)
def test_clock_until(left, clock):
    assert clock_until(timezone.now() + left) == clock
    assert clock_until(None) == ""


# The top bar on every page


def test_ops_pages_carry_the_polling_badge_slot(client, ops):
    html = client.get(reverse("cmdb:ci-list")).content.decode()
    slot = re.search(r'<div id="backout-badge"[^>]*>', html).group(0)
    assert f'hx-get="{BADGE}"' in slot
    assert 'hx-trigger="load, every 10s"' in slot
    assert "js/topbar.js" in html


def test_others_get_no_badge_and_no_polling(client):
    waiting(timedelta(minutes=10))
    client.force_login(UserFactory(username="rita", roles=["release_manager"]))
    html = client.get(reverse("cmdb:ci-list")).content.decode()
    assert "backout-badge" not in html


def test_the_skip_link_comes_first_and_targets_the_main_content(client, ops):
    html = client.get(reverse("cmdb:ci-list")).content.decode()
    body = html.split("<body", 1)[1]
    first_link = re.search(r"<a [^>]*>[^<]*</a>", body).group(0)
    assert 'href="#content"' in first_link and "Skip to content" in first_link
    assert re.search(r'<main [^>]*id="content"', html)


def test_the_navigation_is_a_disclosure_open_without_javascript(client, ops):
    html = client.get(reverse("cmdb:ci-list")).content.decode()
    assert re.search(r'<details class="topbar-menu" open>\s*<summary>Menu</summary>', html)
    assert 'class="topbar-user"' in html
