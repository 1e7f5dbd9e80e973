"""The release calendar: month and week views with both windows of a release and the freezes,
filters, conflicts (shared target CI, freeze), bad input (400), permission (403) and a fixed
number of queries with many releases."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from cmdb.choices import Environment
from releases.calendar.selectors import calendar_period
from releases.choices import ReleaseState
from releases.models import FreezeWindow, ReleaseTarget
from tests.factories import ConfigurationItemFactory, ReleaseFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/calendar/"
S = ReleaseState


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def release_with(
    *,
    install,
    distribute=None,
    targets=(),
    state=S.PLANNED,
    unit=None,
    **fields,
):
    """A release with an installation window (and a distribution window, by default the day
    before), on the given target CIs."""
    install_start, install_end = install
    dist_start, dist_end = distribute or (
        install_start - timedelta(days=1),
        install_start - timedelta(hours=20),
    )
    if unit is not None:
        fields["release_unit"] = unit
    release = ReleaseFactory(
        state=state,
        distribution_start=dist_start,
        distribution_end=dist_end,
        installation_start=install_start,
        installation_end=install_end,
        with_plan=False,
        **fields,
    )
    for ci in targets:
        ReleaseTarget.objects.create(release=release, ci=ci)
    return release


def freeze(start, end, reason="Year-end freeze", **fields):
    return FreezeWindow.objects.create(start=start, end=end, reason=reason, **fields)


@pytest.fixture
def manager(role_user):
    return role_user("release_manager", time_zone="Europe/Berlin")


@pytest.fixture
def page(client, manager):
    client.force_login(manager)

    def get(**params):
        return client.get(URL, params)

    return get


def events(html: str, release, kind: str) -> int:
    """How many days show ``release``'s ``kind`` window."""
    return len(re.findall(rf'data-release="{re.escape(release.number)}" data-kind="{kind}"', html))


# The views


def test_month_view_shows_both_windows_and_a_freeze_in_the_users_time_zone(page):
    release = release_with(
        title="Payroll client 5.2",
        install=(utc(2027, 3, 10, 9, 0), utc(2027, 3, 10, 17, 0)),
        distribute=(utc(2027, 3, 8, 6, 0), utc(2027, 3, 8, 12, 0)),
    )
    # midnight to midnight in Berlin: the 20th and the 21st
    freeze(utc(2027, 3, 19, 23), utc(2027, 3, 21, 23), reason="Quarter close")

    response = page(view="month", date="2027-03-01")

    assert response.status_code == 200
    html = response.content.decode()
    assert "March 2027" in html
    assert "Times in Europe/Berlin" in html
    assert events(html, release, "distribution") == 1
    assert events(html, release, "installation") == 1
    assert "Payroll client 5.2" in html
    # 09:00–17:00 UTC is 10:00–18:00 in Berlin (winter time)
    assert "10:00–18:00" in html
    assert "07:00–13:00" in html
    assert html.count("Freeze: Quarter close") == 2
    assert f'href="{reverse("releases:release-detail", args=[release.pk])}"' in html


def test_a_window_spanning_days_is_on_every_day_it_covers_in_the_users_zone(client, role_user):
    # 20:00 UTC on the 10th to 23:30 UTC on the 11th: two days in UTC, three in Berlin
    release = release_with(install=(utc(2027, 3, 10, 20, 0), utc(2027, 3, 11, 23, 30)))
    berlin = role_user("auditor", time_zone="Europe/Berlin")
    london = role_user("auditor", time_zone="UTC")

    client.force_login(berlin)
    html = client.get(URL, {"date": "2027-03-01"}).content.decode()
    assert events(html, release, "installation") == 3
    assert "from 21:00" in html and "all day" in html and "until 00:30" in html

    client.force_login(london)
    html = client.get(URL, {"date": "2027-03-01"}).content.decode()
    assert events(html, release, "installation") == 2
    assert "from 20:00" in html and "until 23:30" in html


def test_week_view_shows_the_week_of_the_date_only(page):
    inside = release_with(install=(utc(2027, 3, 10, 9), utc(2027, 3, 10, 11)))
    outside = release_with(install=(utc(2027, 3, 17, 9), utc(2027, 3, 17, 11)))

    response = page(view="week", date="2027-03-11")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Week 10 · 8 Mar – 14 Mar 2027" in html
    assert events(html, inside, "installation") == 1
    assert events(html, outside, "installation") == 0
    assert "view=week&amp;date=2027-03-01" in html  # previous week
    assert "view=week&amp;date=2027-03-15" in html  # next week


def test_without_a_date_the_month_of_today_in_the_users_zone_is_shown(page, manager):
    response = page()
    today = timezone.localdate(timezone=ZoneInfo(manager.time_zone))
    assert response.status_code == 200
    assert today.strftime("%B %Y") in response.content.decode()


def test_a_month_grid_starts_on_monday_and_links_the_months_around_it(page):
    html = page(date="2026-12-15").content.decode()
    assert "December 2026" in html
    assert 'datetime="2026-11-30"' in html  # the Monday before the 1st
    assert 'datetime="2027-01-03"' in html  # the Sunday after the 31st
    assert "view=month&amp;date=2026-11-01" in html
    assert "view=month&amp;date=2027-01-01" in html


# Filters


def test_filters_by_unit_environment_and_state_and_keeps_them_in_the_links(page):
    when = (utc(2027, 3, 10, 9), utc(2027, 3, 10, 11))
    production = ConfigurationItemFactory(service=True, environment=Environment.PRODUCTION)
    staging = ConfigurationItemFactory(service=True, environment=Environment.STAGING)
    in_production = release_with(install=when, unit=production, state=S.VERIFIED)
    in_staging = release_with(install=when, unit=staging, state=S.PLANNED)

    by_unit = page(date="2027-03-01", unit=production.pk).content.decode()
    assert events(by_unit, in_production, "installation") == 1
    assert events(by_unit, in_staging, "installation") == 0
    assert f'href="?view=month&amp;date=2027-04-01&amp;unit={production.pk}"' in by_unit

    by_environment = page(date="2027-03-01", environment="staging").content.decode()
    assert events(by_environment, in_production, "installation") == 0
    assert events(by_environment, in_staging, "installation") == 1

    response = page(date="2027-03-01", state=["verified", "installing"])
    by_state = response.content.decode()
    assert events(by_state, in_production, "installation") == 1
    assert events(by_state, in_staging, "installation") == 0
    assert "state=verified&amp;state=installing" in by_state


def test_freezes_scoped_to_another_unit_or_environment_are_left_out_by_the_filters(page):
    unit, other_unit = ConfigurationItemFactory.create_batch(2, service=True)
    freeze(utc(2027, 3, 1), utc(2027, 3, 2), reason="Everyone")
    freeze(utc(2027, 3, 3), utc(2027, 3, 4), reason="Mine", scope="release_unit", release_unit=unit)
    freeze(
        utc(2027, 3, 5),
        utc(2027, 3, 6),
        reason="Theirs",
        scope="release_unit",
        release_unit=other_unit,
    )
    freeze(
        utc(2027, 3, 7),
        utc(2027, 3, 8),
        reason="Staging only",
        scope="environment",
        environment="staging",
    )

    html = page(date="2027-03-01", unit=unit.pk, environment="production").content.decode()

    assert "Freeze: Everyone" in html and "Freeze: Mine" in html
    assert "Theirs" not in html and "Staging only" not in html


# Conflicts


def test_overlapping_installations_on_a_shared_ci_are_marked_on_both(page):
    shared = ConfigurationItemFactory(identifier="web-01")
    first = release_with(
        install=(utc(2027, 3, 10, 9), utc(2027, 3, 10, 12)),
        targets=[shared, ConfigurationItemFactory()],
    )
    second = release_with(install=(utc(2027, 3, 10, 11), utc(2027, 3, 10, 14)), targets=[shared])

    period = calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1))

    conflicts = {(event.release.pk, c.other_release_id, c.ci) for event, c in period.conflicts}
    assert conflicts == {(first.pk, second.pk, "web-01"), (second.pk, first.pk, "web-01")}
    html = page(date="2027-03-01").content.decode()
    assert f"Shares target CI web-01 with {second.number}" in html
    assert f"Shares target CI web-01 with {first.number}" in html
    assert html.count("has-conflict") == 2


@pytest.mark.parametrize(
    "second_window",
    [
        pytest.param(
            (utc(2027, 3, 10, 12), utc(2027, 3, 10, 14)), id="adjacent: starts as the first ends"
        ),
        pytest.param(
            (utc(2027, 3, 9, 7), utc(2027, 3, 10, 9)), id="adjacent: ends as the first starts"
        ),
        pytest.param((utc(2027, 3, 11, 9), utc(2027, 3, 11, 12)), id="the next day"),
    ],
)
def test_adjacent_or_disjoint_windows_on_a_shared_ci_do_not_conflict(second_window):
    shared = ConfigurationItemFactory()
    release_with(install=(utc(2027, 3, 10, 9), utc(2027, 3, 10, 12)), targets=[shared])
    release_with(install=second_window, targets=[shared])

    period = calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1))

    assert period.conflicts == []


def test_overlapping_installations_on_different_cis_or_a_cancelled_release_do_not_conflict():
    shared = ConfigurationItemFactory()
    when = (utc(2027, 3, 10, 9), utc(2027, 3, 10, 12))
    release_with(install=when, targets=[ConfigurationItemFactory(), shared])
    release_with(install=when, targets=[ConfigurationItemFactory()])
    release_with(install=when, targets=[shared], state=S.CANCELLED)

    assert calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1)).conflicts == []


def test_a_conflict_names_how_many_cis_are_shared():
    shared = ConfigurationItemFactory.create_batch(3)
    when = (utc(2027, 3, 10, 9), utc(2027, 3, 10, 12))
    first = release_with(install=when, targets=shared)
    release_with(install=when, targets=shared)

    period = calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1))

    messages = {event.release.pk: c.message for event, c in period.conflicts}
    first_ci = min(ci.identifier for ci in shared)
    assert messages[first.pk].startswith(f"Shares target CI {first_ci} and 2 more CIs with ")


def test_an_installation_overlapping_an_applying_freeze_is_marked(page):
    production_ci = ConfigurationItemFactory(environment=Environment.PRODUCTION)
    release = release_with(
        install=(utc(2027, 3, 10, 9), utc(2027, 3, 10, 12)), targets=[production_ci]
    )
    freeze(
        utc(2027, 3, 10, 11),
        utc(2027, 3, 11),
        reason="Payroll run",
        scope="environment",
        environment="production",
    )

    period = calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1))

    [(event, conflict)] = period.conflicts
    assert (event.release, event.kind, conflict.kind) == (release, "installation", "freeze")
    assert conflict.message == "Overlaps the freeze window “Payroll run”."
    html = page(date="2027-03-01").content.decode()
    assert "Overlaps the freeze window “Payroll run”." in html


def test_freezes_that_do_not_apply_or_only_touch_the_window_are_not_conflicts():
    staging_ci = ConfigurationItemFactory(environment=Environment.STAGING)
    unit, other_unit = ConfigurationItemFactory.create_batch(2, service=True)
    release_with(
        install=(utc(2027, 3, 10, 9), utc(2027, 3, 10, 12)), targets=[staging_ci], unit=unit
    )
    # another environment, another unit, and a freeze that ends as the window starts
    freeze(utc(2027, 3, 10), utc(2027, 3, 11), scope="environment", environment="production")
    freeze(utc(2027, 3, 10), utc(2027, 3, 11), scope="release_unit", release_unit=other_unit)
    freeze(utc(2027, 3, 9), utc(2027, 3, 10, 9), reason="Before")
    freeze(utc(2027, 3, 10, 12), utc(2027, 3, 11), reason="After")

    assert calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1)).conflicts == []


def test_a_freeze_of_the_unit_is_a_conflict_and_several_are_counted():
    unit = ConfigurationItemFactory(service=True)
    release_with(install=(utc(2027, 3, 10, 9), utc(2027, 3, 10, 12)), unit=unit)
    freeze(
        utc(2027, 3, 10, 8),
        utc(2027, 3, 10, 10),
        reason="Unit maintenance",
        scope="release_unit",
        release_unit=unit,
    )
    freeze(utc(2027, 3, 10, 11), utc(2027, 3, 12), reason="Everything")

    [(_, conflict)] = calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1)).conflicts

    assert (
        conflict.message
        == "Overlaps the freeze window “Unit maintenance” and 1 more freeze window."
    )


def test_conflicts_are_found_with_the_same_rule_as_the_installation_check():
    """The calendar and the server-side freeze check agree on which freezes apply."""
    from releases.services.freezes import freezes_overlapping

    cis = [
        ConfigurationItemFactory(environment=env)
        for env in (Environment.PRODUCTION, Environment.TEST)
    ]
    unit = ConfigurationItemFactory(service=True)
    release = release_with(
        install=(utc(2027, 3, 10, 9), utc(2027, 3, 10, 12)), targets=cis, unit=unit
    )
    for scope, extra in [
        ("everything", {}),
        ("environment", {"environment": "test"}),
        ("environment", {"environment": "development"}),
        ("release_unit", {"release_unit": unit}),
    ]:
        freeze(utc(2027, 3, 10, 10), utc(2027, 3, 10, 11), scope=scope, **extra)

    expected = freezes_overlapping(
        release.installation_start, release.installation_end, release=release
    )
    [(_, conflict)] = calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1)).conflicts

    assert len(expected) == 3
    assert conflict.freeze == min(expected, key=lambda f: (f.start, f.pk))
    assert "and 2 more freeze windows" in conflict.message


# Bad input and permissions


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date": "2026-13-01"}, "Give the date as YYYY-MM-DD"),
        ({"date": "yesterday"}, "Give the date as YYYY-MM-DD"),
        ({"date": "0001-01-01"}, "Choose a date between 1970 and 2999."),
        ({"view": "year"}, "“year” is not a calendar view: choose month or week."),
        ({"unit": "abc"}, "No release unit has this id."),
        ({"unit": "999999"}, "No release unit has this id."),
        ({"environment": "mars"}, "“mars” is not an environment."),
        ({"state": "done"}, "“done” is not a release state."),
    ],
)
def test_bad_input_answers_400_with_a_clear_message(page, params, message):
    response = page(**params)

    assert response.status_code == 400
    assert message in response.content.decode()


def test_without_the_view_permission_the_calendar_is_403(client):
    client.force_login(UserFactory())
    assert client.get(URL).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_form(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_navigation_lists_the_calendar_after_the_pipeline(page):
    html = page().content.decode()
    pipeline = html.index(">Pipeline</a>")
    calendar = html.index(">Calendar</a>")
    assert pipeline < calendar < html.index(">Back-out queue</a>")


# Queries


def _busy_month(count: int):
    """``count`` releases in March 2027, each overlapping the next on a shared CI and all of
    them inside a production freeze."""
    freeze(utc(2027, 3, 1), utc(2027, 4, 1), scope="environment", environment="production")
    shared = ConfigurationItemFactory.create_batch(count + 1)
    for n in range(count):
        start = utc(2027, 3, 3, 8) + timedelta(hours=13 * n)
        release_with(install=(start, start + timedelta(hours=20)), targets=shared[n : n + 2])


def test_the_calendar_costs_a_fixed_number_of_queries(page, django_assert_max_num_queries):
    _busy_month(3)
    page(date="2027-03-01")  # warm the session and permission caches
    with django_assert_max_num_queries(50) as few:
        response = page(date="2027-03-01")
    assert response.status_code == 200
    baseline = len(few.captured_queries)

    _busy_month(40)
    with django_assert_max_num_queries(baseline):
        response = page(date="2027-03-01")

    html = response.content.decode()
    assert html.count("Shares target CI") >= 40
    assert "Overlaps the freeze window" in html


def test_the_selector_costs_four_queries_whatever_the_number_of_releases(
    django_assert_num_queries,
):
    _busy_month(30)
    with django_assert_num_queries(4):
        period = calendar_period(start=utc(2027, 3, 1), end=utc(2027, 4, 1))
    assert len(period.windows) == 60
    assert len(period.conflicts) == 30 + 29 * 2  # each frozen; neighbours share a CI
