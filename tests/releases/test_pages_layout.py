"""Issue 12, "Pages" and "Friction": the release list's progress, health, sorting and "mine"; the
pipeline's live states first and folded empty columns; the release page's sections with the state
diagram folded at the bottom under human titles; what the page says while it waits for the agents
and the page on connecting one; one date format on every page."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from releases.choices import ReleaseState as S
from releases.models import Release, ReleaseItem, ReleaseTarget
from tests.factories import (
    ChangeRequestFactory,
    ConfigurationItemFactory,
    ReleaseFactory,
    SoftwareVersionFactory,
    UserFactory,
)
from tests.releases.test_deployment import make_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(role_user):
    return role_user("release_manager")


def text_of(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def rows_of(html: str) -> list[str]:
    """The release numbers of the list's rows, in order."""
    return re.findall(r'<tr data-release="([^"]+)"', html)


# The release list.


def test_the_list_shows_progress_and_health_of_each_release(client, manager):
    # given: one installing release quiet for longer than the dashboards' stuck limit, one with a
    # failed target, one doing well
    quiet = timezone.now() - timedelta(minutes=settings.DASHBOARD_STUCK_MINUTES + 30)
    stuck = make_release(state=S.INSTALLING, targets=4, title="Quiet one")
    Release.objects.filter(pk=stuck.pk).update(state_changed_at=quiet)
    failing = make_release(state=S.INSTALLING, targets=4, title="Failing one")
    Release.objects.filter(pk=failing.pk).update(
        count_installed=2, count_install_failed=1, state_changed_at=timezone.now()
    )
    ReleaseTarget.objects.filter(release=failing).update(last_report_at=timezone.now())
    fine = make_release(state=S.INSTALLING, targets=4, title="Fine one")
    Release.objects.filter(pk=fine.pk).update(count_installed=3, state_changed_at=timezone.now())
    client.force_login(manager)

    # when
    response = client.get(reverse("releases:release-list"))

    # then
    html = response.content.decode()
    row = {
        number: re.search(rf'<tr data-release="{number}".*?</tr>', html, re.S).group(0)
        for number in (stuck.number, failing.number, fine.number)
    }
    assert 'data-health="stuck"' in row[stuck.number] and ">Stuck<" in row[stuck.number]
    assert 'data-health="failing"' in row[failing.number] and ">Failing<" in row[failing.number]
    assert "data-health" not in row[fine.number]
    progress = text_of_html(row[failing.number])
    assert "2 of 4 installed · 1 failed" in progress
    assert 'aria-label="2 installed, 1 failed of 4"' in row[failing.number]
    assert 'style="width: 50.0%"' in row[failing.number]  # the installed part of the bar
    assert "3 of 4 installed" in text_of_html(row[fine.number])


def text_of_html(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_list_sorts_by_column_both_ways(client, manager):
    now = timezone.now()
    a = ReleaseFactory(title="Alpha", state=S.TESTING, installation_start=now + timedelta(days=3))
    b = ReleaseFactory(title="Bravo", state=S.PLANNED, installation_start=None)
    c = ReleaseFactory(title="Charlie", state=S.CLOSED, installation_start=now + timedelta(days=1))
    Release.objects.filter(pk=a.pk).update(updated_at=now - timedelta(days=1))
    Release.objects.filter(pk=b.pk).update(updated_at=now - timedelta(days=3))
    Release.objects.filter(pk=c.pk).update(updated_at=now - timedelta(days=2))
    client.force_login(manager)
    url = reverse("releases:release-list")

    def order(sort):
        return rows_of(client.get(url, {"sort": sort}).content.decode())

    assert order("title") == [a.number, b.number, c.number]
    assert order("-title") == [c.number, b.number, a.number]
    assert order("number") == sorted([a.number, b.number, c.number])
    assert order("updated") == [b.number, c.number, a.number]
    assert order("-updated") == [a.number, c.number, b.number]
    assert order("window") == [c.number, a.number, b.number]  # no window: last either way
    assert order("-window") == [a.number, c.number, b.number]
    assert order("state") == sorted(
        [a.number, b.number, c.number],
        key=lambda n: Release.objects.get(number=n).state,
    )
    # an unknown sort is newest first, as before
    assert order("nonsense") == rows_of(client.get(url).content.decode())
    # the headings link to the other direction and say which column is sorted
    html = client.get(url, {"sort": "title", "state": S.TESTING}).content.decode()
    assert 'aria-sort="ascending"' in html
    assert "sort=-title" in unescape(html) and "state=testing" in unescape(html)


def test_mine_lists_only_the_users_releases(client, manager):
    mine = ReleaseFactory(owner=manager, title="Mine")
    theirs = ReleaseFactory(owner=UserFactory(username="someone-else"), title="Theirs")
    client.force_login(manager)
    html = client.get(reverse("releases:release-list"), {"mine": "1"}).content.decode()
    assert rows_of(html) == [mine.number]
    assert theirs.number not in html
    assert 'name="mine" value="1" checked' in html
    # the counts per state follow the filter
    assert re.search(r"1 release matches the filters", text_of_html(html))


def _many(count: int, owner) -> None:
    unit, target = ConfigurationItemFactory(service=True), ConfigurationItemFactory()
    states = [S.INSTALLING, S.CLOSED, S.TESTING, S.BACKOUT_REQUIRED]
    for i in range(count):
        release = ReleaseFactory(release_unit=unit, owner=owner, state=states[i % len(states)])
        release.change_requests.add(ChangeRequestFactory())
        ReleaseItem.objects.create(
            release=release, kind="software", software_version=SoftwareVersionFactory()
        )
        ReleaseTarget.objects.create(release=release, ci=target, last_report_at=timezone.now())


@pytest.mark.parametrize("query", ["", "?sort=-window&mine=1", "?sort=state&state=installing"])
def test_the_list_with_progress_health_and_sorting_costs_a_fixed_number_of_queries(
    client, manager, django_assert_max_num_queries, query
):
    client.force_login(manager)
    url = reverse("releases:release-list") + (query or "?") + "&page_size=100"
    _many(4, manager)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    _many(40, manager)
    with django_assert_max_num_queries(len(captured)):
        response = client.get(url)
    assert len(response.context["page"].object_list) >= 11


# The pipeline.


def test_the_pipeline_shows_the_live_states_first_and_folds_empty_columns(client, manager):
    ReleaseFactory(state=S.INSTALLING, title="Going out now")
    ReleaseFactory(state=S.TESTING, title="Being tested")
    client.force_login(manager)
    html = client.get(reverse("releases:pipeline")).content.decode()
    columns = re.findall(r'<section class="board-col([^"]*)"[^>]*data-state="(\w+)"', html)
    states = [state for _, state in columns]
    assert states[:4] == [S.DISTRIBUTING, S.INSTALLING, S.BACKOUT_REQUIRED, S.BACKING_OUT]
    assert sorted(states) == sorted(s.value for s in S if s not in (S.CLOSED, S.CANCELLED))
    classes = dict((state, css) for css, state in columns)
    assert "is-live" in classes[S.DISTRIBUTING] and "is-empty" in classes[S.DISTRIBUTING]
    assert "is-live" not in classes[S.BUILT] and "is-empty" in classes[S.BUILT]
    assert "is-empty" not in classes[S.TESTING]
    # a folded column keeps its name and count for the eye and the screen reader
    assert 'aria-label="Built: 0"' in html and 'title="Built: none"' in html


# The release page.


def test_the_release_page_has_sections_and_the_diagram_folded_at_the_bottom(client, manager):
    release = ReleaseFactory(state=S.ROLLOUT_PLANNED)
    client.force_login(manager)
    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    nav = re.search(r'<nav class="section-nav".*?</nav>', html, re.S).group(0)
    for anchor in ("overview", "contents", "tests", "rollout", "timeline", "diagram"):
        assert f'href="#{anchor}"' in nav and f'id="{anchor}"' in html
    # the diagram is the last thing on the page, folded
    assert re.search(r'<details id="diagram" class="diagram-box">', html)
    assert html.index('id="diagram"') > html.index('id="timeline"')
    # hover titles are the states' labels, not internal names
    diagram = html[html.index('id="diagram"') :]
    titles = re.findall(r"<title>([^<]*)</title>", diagram)
    assert "Roll-out planned" in titles and "Testing → Built" in titles
    assert not [t for t in titles if "_" in t or "releases.release" in t]
    assert 'aria-label="State diagram; current state: Roll-out planned"' in diagram


@pytest.mark.parametrize(
    ("state", "done_field", "words"),
    [
        (S.DISTRIBUTING, "count_distributed", "3 of 5 targets distributed"),
        (S.INSTALLING, "count_installed", "3 of 5 targets installed"),
    ],
)
def test_while_the_agents_work_the_page_says_so_and_how_to_connect_one(
    client, role_user, state, done_field, words
):
    release = make_release(state=state, targets=5)
    Release.objects.filter(pk=release.pk).update(**{done_field: 3})
    client.force_login(role_user("auditor"))
    response = client.get(reverse("releases:release-detail", args=[release.pk]))
    html, text = response.content.decode(), text_of(response)
    assert "Waiting for the agents" in text
    assert words in text
    assert f'href="{reverse("releases:agent-help")}"' in html
    # before the agents report: the token command and make agents
    fresh = make_release(state=state, targets=2)
    text = text_of(client.get(reverse("releases:release-detail", args=[fresh.pk])))
    assert "No agent has reported yet" in text
    assert "manage.py issue_token integration --name web-01 --ci web-01" in text
    assert "make agents" in text


def test_no_waiting_note_when_a_person_has_the_next_step(client, manager):
    release = make_release(state=S.DISTRIBUTED, targets=2)
    client.force_login(manager)
    text = text_of(client.get(reverse("releases:release-detail", args=[release.pk])))
    assert "Waiting for the agents" not in text


def test_the_agent_help_page_names_the_token_command_and_the_agent_calls(client, role_user):
    client.force_login(role_user("auditor"))
    response = client.get(reverse("releases:agent-help"))
    assert response.status_code == 200
    text = text_of(response)
    assert "manage.py issue_token integration --name web-01 --ci web-01" in text
    for call in (
        "/api/v1/agent/heartbeat/",
        "/api/v1/agent/work/",
        "/api/v1/release-targets/{id}/distribution/",
        "/api/v1/release-targets/{id}/installation/",
        "/api/v1/release-targets/{id}/backout/",
    ):
        assert call in text
    assert "make agents" in text and "run_agent" in text
    client.logout()
    assert client.get(reverse("releases:agent-help")).status_code == 302


# One date format.


def test_when_writes_the_one_format_in_the_users_zone():
    from django.utils import timezone as tz

    moment = datetime(2026, 12, 3, 5, 29, 7, tzinfo=UTC)
    template = Template(
        '{{ m|when }}|{{ m|when:"s" }}|{{ m|when:"tz" }}|{{ m|when_plain }}|{{ n|when|default:"never" }}'
    )
    with tz.override("Europe/Berlin"):
        out = template.render(Context({"m": moment, "n": None}))
    assert out == (
        '<time datetime="2026-12-03T06:29:07+01:00">3 Dec 2026 06:29</time>|'
        '<time datetime="2026-12-03T06:29:07+01:00">3 Dec 2026 06:29:07</time>|'
        '<time datetime="2026-12-03T06:29:07+01:00">3 Dec 2026 06:29 CET</time>|'
        "3 Dec 2026 06:29|never"
    )


def test_no_template_formats_a_date_by_hand():
    """Every moment goes through ``|when``; only the calendar's day cells spell a day's parts."""
    allowed = {"D", "j", "M", "Y-m-d", "c"}
    found = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        for fmt in re.findall(r"""\|(?:date|time):["']([^"']*)["']""", path.read_text()):
            if fmt not in allowed:
                found.append(f"{path.name}: {fmt}")
        found += [
            f"{path.name}: now {f}"
            for f in re.findall(r"{% now \"([^\"]*)\"", path.read_text())
            if "Y" not in f
        ]
    assert found == []


def test_the_back_out_queue_gives_the_condition_its_date(client, role_user):
    release = make_release(state=S.BACKOUT_REQUIRED, targets=2)
    met = datetime(2026, 12, 3, 6, 42, 49, tzinfo=UTC)
    Release.objects.filter(pk=release.pk).update(
        backout_required_at=met,
        backout_deadline=timezone.now() + timedelta(minutes=10),
        backout_condition="failure rate above 20%",
    )
    client.force_login(role_user("ops"))
    text = text_of(client.get(reverse("releases:backout-queue")))
    assert "Condition met at 3 Dec 2026 06:42:49" in text
