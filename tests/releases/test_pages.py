"""The release pages: what a viewer sees and may not do, the list's filters and its fixed query
count, the pipeline board, the release page (transitions, refusals, diagram, timeline), sign-off
and roll-out tasks, and the change requests."""

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from releases import choices, services
from releases.choices import Outcome, ReleaseLevel, ReleaseState
from releases.models import Release, ReleaseItem, ReleaseTarget, ReleaseTransition
from tests.factories import (
    ChangeRequestFactory,
    ConfigurationItemFactory,
    ReleaseFactory,
    SoftwareVersionFactory,
    UserFactory,
)
from tests.plans import bitmap_plan

pytestmark = pytest.mark.django_db

S = ReleaseState


@pytest.fixture
def manager(role_user):
    return role_user("release_manager", username="rita", first_name="Rita", last_name="Release")


@pytest.fixture
def auditor(role_user):
    return role_user("auditor", username="aude")


def signed_in(client, user):
    client.force_login(user)
    return client


def text_of(response) -> str:
    """The page's text without tags and with runs of white space collapsed."""
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def release_in_testing(by, **fields) -> Release:
    """A release walked through the services to ``testing`` (its test scope computed)."""
    release = ReleaseFactory(planned=True, **fields)
    for name in ("plan", "build", "start_tests"):
        services.release_transition(release=release, name=name, by=by)
    release.refresh_from_db()
    return release


# A viewer sees everything and can change nothing.


def test_every_page_renders_for_an_auditor_without_write_actions(client, auditor, manager):
    change = ChangeRequestFactory(number="CHG0040001", title="Billing fix")
    requested = ReleaseFactory(title="Requested one")
    requested.change_requests.add(change)
    in_testing = release_in_testing(manager, title="In testing")
    signed_in(client, auditor)

    pages = [
        reverse("releases:release-list"),
        reverse("releases:pipeline"),
        reverse("releases:pipeline-board"),
        reverse("releases:release-detail", args=[requested.pk]),
        reverse("releases:release-detail", args=[in_testing.pk]),
        reverse("releases:change-list"),
        reverse("releases:change-detail", args=[change.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "New release" not in html, url
        assert "Edit plan" not in html, url
        assert "data-open-dialog" not in html, url  # no transition button
        assert 'class="sign-off"' not in html, url
        assert "Mark done" not in html, url
    detail = client.get(reverse("releases:release-detail", args=[requested.pk]))
    assert "Nothing you may do at this step" in text_of(detail)


@pytest.mark.parametrize(
    "name",
    ["release-create", "release-edit", "release-plan"],
)
def test_edit_pages_are_forbidden_without_permission(client, auditor, name):
    release = ReleaseFactory()
    signed_in(client, auditor)
    args = [] if name == "release-create" else [release.pk]
    assert client.get(reverse(f"releases:{name}", args=args)).status_code == 403
    assert client.post(reverse(f"releases:{name}", args=args), {"title": "x"}).status_code == 403


def test_every_write_is_forbidden_without_permission(client, auditor):
    release = ReleaseFactory(planned=True)
    item = release.items.get()
    condition = release.failure_conditions.get()
    signed_in(client, auditor)
    writes = {
        "schedule-set": ([release.pk], {"backout_decision_minutes": 10}),
        "item-add": ([release.pk], {"kind": "software"}),
        "item-remove": ([release.pk, item.pk], {}),
        "targets-set": ([release.pk], {"identifiers": "x"}),
        "backout-set": ([release.pk], {"steps": "x"}),
        "condition-add": ([release.pk], {"fc-kind": "failure_rate_above"}),
        "condition-remove": ([release.pk, condition.pk], {}),
    }
    for name, (args, data) in writes.items():
        response = client.post(reverse(f"releases:{name}", args=args), data)
        assert response.status_code == 403, name
    assert release.items.count() == 1 and release.failure_conditions.count() == 1


def test_a_transition_without_its_permission_is_403_with_the_message(client, auditor):
    release = ReleaseFactory(planned=True)
    signed_in(client, auditor)
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "plan"]), {"reason": ""}
    )
    assert response.status_code == 403
    assert "You do not have the permission to plan releases." in text_of(response)
    release.refresh_from_db()
    assert release.state == S.REQUESTED


def test_pages_need_the_view_permission(client):
    nobody = UserFactory()
    release = ReleaseFactory()
    signed_in(client, nobody)
    for url in (
        reverse("releases:release-list"),
        reverse("releases:pipeline"),
        reverse("releases:release-detail", args=[release.pk]),
        reverse("releases:change-list"),
    ):
        assert client.get(url).status_code == 403, url


# The list.


def _many_releases(count: int, owner) -> None:
    unit = ConfigurationItemFactory(service=True)
    target = ConfigurationItemFactory()
    for i in range(count):
        release = ReleaseFactory(release_unit=unit, owner=owner, state=list(S)[i % len(S)])
        release.change_requests.add(ChangeRequestFactory())
        ReleaseItem.objects.create(
            release=release, kind="software", software_version=SoftwareVersionFactory()
        )
        ReleaseTarget.objects.create(release=release, ci=target)
        Release.objects.filter(pk=release.pk).update(count_targets=1)  # kept with the targets


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_list_costs_a_fixed_number_of_queries(client, manager, django_assert_max_num_queries):
    signed_in(client, manager)
    url = reverse("releases:release-list") + "?page_size=100"
    _many_releases(3, manager)
    few = _queries(client, url)
    _many_releases(40, manager)
    with django_assert_max_num_queries(few):
        response = client.get(url)
    assert len(response.context["page"].object_list) == 43
    assert text_of(response).count("REL-") >= 43


@pytest.mark.parametrize(
    "query",
    [
        "sort=-updated",
        "sort=window",
        "sort=title",
        "mine=1",
        "search=release",
        "state=requested&state=planned&state=testing",
        "mine=1&state=installing&state=requested&sort=-number",
    ],
)
def test_a_sorted_or_filtered_list_costs_a_fixed_number_of_queries(
    client, manager, query, django_assert_max_num_queries
):
    # issue #13: the list's figures are counted for the rows of the page, whatever the filter
    signed_in(client, manager)
    url = reverse("releases:release-list") + "?page_size=100&" + query
    _many_releases(3, manager)
    few = _queries(client, url)
    _many_releases(40, manager)
    with django_assert_max_num_queries(few):
        response = client.get(url)
    rows = response.context["page"].object_list
    assert rows
    assert all(r.item_count == 1 and r.target_count == 1 for r in rows)


def test_the_pipeline_costs_a_fixed_number_of_queries(
    client, manager, django_assert_max_num_queries
):
    signed_in(client, manager)
    _many_releases(3, manager)
    few = _queries(client, reverse("releases:pipeline"))
    _many_releases(40, manager)
    with django_assert_max_num_queries(few):
        client.get(reverse("releases:pipeline"))
    with django_assert_max_num_queries(few):
        client.get(reverse("releases:pipeline-board"))


def test_list_filters_as_the_api_does(client, manager):
    billing = ConfigurationItemFactory(service=True, identifier="billing")
    portal = ConfigurationItemFactory(service=True, identifier="portal")
    other_owner = UserFactory(username="omar")
    change = ChangeRequestFactory(number="CHG0099999")
    a = ReleaseFactory(title="Tax tables", release_unit=billing, owner=manager, state=S.TESTING)
    b = ReleaseFactory(
        title="Portal redesign",
        release_unit=portal,
        owner=other_owner,
        level=ReleaseLevel.FULL,
        state=S.REQUESTED,
    )
    b.change_requests.add(change)
    signed_in(client, manager)

    def numbers(query: str) -> set[str]:
        response = client.get(reverse("releases:release-list") + query)
        assert response.status_code == 200, query
        return {r.number for r in response.context["page"].object_list}

    assert numbers("") == {a.number, b.number}
    assert numbers("?state=testing") == {a.number}
    assert numbers("?state=testing&state=requested") == {a.number, b.number}
    assert numbers("?level=full") == {b.number}
    assert numbers(f"?unit={billing.pk}") == {a.number}
    assert numbers("?unit=portal") == {b.number}
    assert numbers("?change=chg0099999") == {b.number}
    assert numbers("?owner=omar") == {b.number}
    assert numbers("?search=tax") == {a.number}
    response = client.get(reverse("releases:release-list") + "?state=testing")
    assert response.context["total"] == 1
    assert 'data-state="testing"' in response.content.decode()
    assert client.get(reverse("releases:release-list") + "?state=nonsense").status_code == 400


def test_state_badges_carry_their_family(client, manager):
    for state in (S.REQUESTED, S.TESTING, S.DISTRIBUTING, S.CLOSED, S.BACKING_OUT, S.CANCELLED):
        ReleaseFactory(state=state)
    signed_in(client, manager)
    html = client.get(reverse("releases:release-list")).content.decode()
    for family, state in (
        ("planning", "requested"),
        ("building", "testing"),
        ("deploying", "distributing"),
        ("done", "closed"),
        ("backout", "backing_out"),
        ("cancelled", "cancelled"),
    ):
        assert f'class="badge state state-{family}" data-state="{state}"' in html
    assert "New release" in html


def test_the_pipeline_has_a_column_per_open_state_and_refreshes(client, manager):
    release = ReleaseFactory(state=S.TESTING, title="Being tested")
    ReleaseFactory(state=S.CLOSED, title="Long done")
    signed_in(client, manager)
    response = client.get(reverse("releases:pipeline"))
    html = response.content.decode()
    columns = re.findall(r'<section class="board-col[^"]*"[^>]*data-state="(\w+)"', html)
    live = [S.DISTRIBUTING, S.INSTALLING, S.BACKOUT_REQUIRED, S.BACKING_OUT]
    assert columns == live + [s.value for s in S if s not in (S.CLOSED, S.CANCELLED, *live)]
    assert 'hx-get="/releases/pipeline/board/"' in html and 'hx-trigger="every 30s"' in html
    assert release.number in html and "Being tested" in html and "Long done" not in html
    assert 'aria-label="Testing: 1"' in html
    board = client.get(reverse("releases:pipeline-board"))
    assert board.status_code == 200 and "<html" not in board.content.decode()


# The release page.


def test_the_release_page_shows_summary_plan_contents_and_diagram(client, manager):
    unit = ConfigurationItemFactory(service=True, identifier="billing")
    baseline_version = SoftwareVersionFactory(version="3.5.0")
    closed = ReleaseFactory(release_unit=unit, state=S.CLOSED, outcome=Outcome.COMPLETED)
    ReleaseItem.objects.create(release=closed, kind="software", software_version=baseline_version)
    change = ChangeRequestFactory(number="CHG0031042", title="SEPA instant payments")
    release = ReleaseFactory(
        release_unit=unit,
        title="Billing 3.6.0",
        project_key="PRJ-42",
        project_url="https://projects.example.com/PRJ-42",
        trigger="change_request",
        trigger_reference="CHG0031042",
    )
    release.change_requests.add(change)
    new = SoftwareVersionFactory(product=baseline_version.product, version="3.6.0")
    services.release_item_add(release=release, by=manager, software_version=new)
    signed_in(client, manager)

    response = client.get(reverse("releases:release-detail", args=[release.pk]))
    text = text_of(response)
    html = response.content.decode()
    assert "Billing 3.6.0" in text and "billing" in text
    assert "Change request · CHG0031042" in text
    assert 'href="https://projects.example.com/PRJ-42"' in html
    assert "CHG0031042" in text and "SEPA instant payments" in text
    diff_row = re.search(r"<tr>\s*<td>[^<]*</td>\s*<td>3\.5\.0</td>\s*<td><strong>3\.6\.0", html)
    assert diff_row, "the contents show the baseline version next to the release's"
    assert '<span class="badge diff-changed">changed</span>' in html
    assert 'class="node current" data-state="requested"' in html
    assert html.count('class="node current"') == 1
    assert "Cancel is possible from every state up to Verified." in text
    # The conditions of `plan` are visible before the click.
    plan = re.search(r'<li data-transition="plan"[^>]*>(.*?)</ul>', html, re.S).group(1)
    assert "Add at least one target CI." in plan
    assert "Write the back-out plan (at least one step)." in plan
    assert "Edit plan" in html and "Edit details" in html


def test_only_the_transitions_the_user_may_take_are_buttons(client, manager, role_user):
    release = ReleaseFactory(state=S.TESTING)
    signed_in(client, manager)
    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert set(re.findall(r'<li data-transition="(\w+)"', html)) == {
        "fail_tests",
        "accept",
        "replan",
        "cancel",
    }
    # accept is blocked (nothing signed off): shown disabled with why, without a dialog (#12)
    assert set(re.findall(r'data-open-dialog="dialog-(\w+)"', html)) == {
        "fail_tests",
        "replan",
        "cancel",
    }
    # replan needs a reason: the dialog's field is required.
    assert re.search(r'id="reason-replan" name="reason" rows="3" required', html)
    assert 'id="reason-accept"' not in html


def test_the_back_out_decision_is_a_panel_not_a_one_person_override_button(client, role_user):
    # issue 5: an override needs a second person, so "override_backout" is never a button.
    release = ReleaseFactory(state=S.BACKOUT_REQUIRED)
    signed_in(client, role_user("ops"))
    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert set(re.findall(r'data-open-dialog="dialog-(\w+)"', html)) == set()
    assert reverse("releases:backout-approve", args=[release.pk]) in html
    assert reverse("releases:override-request", args=[release.pk]) in html
    assert reverse("releases:release-transition", args=[release.pk, "override_backout"]) not in html
    # nor can it be posted as a plain transition by one person
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "override_backout"]),
        {"reason": "I alone decide to continue"},
    )
    assert response.status_code == 409
    assert "An override needs two people" in text_of(response)
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED


def test_a_transition_is_taken_with_its_reason_and_shown_in_the_timeline(client, manager):
    release = ReleaseFactory(planned=True)
    signed_in(client, manager)
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "plan"]),
        {"reason": "CAB approved on Tuesday"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("releases:release-detail", args=[release.pk])
    release.refresh_from_db()
    assert release.state == S.PLANNED
    page = client.get(response["Location"])
    text = text_of(page)
    assert "planned" in text.lower()
    entry = re.search(
        r'<li class="state-planning" data-transition="plan">(.*?)</li>', page.content.decode(), re.S
    )
    assert entry, "the timeline has the plan step"
    entry_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", entry.group(1)))
    assert "Requested → Planned" in entry_text
    assert "Rita Release (rita)" in entry_text
    assert "CAB approved on Tuesday" in entry_text


def test_a_refused_transition_is_409_with_the_message_and_what_is_missing(client, manager):
    release = ReleaseFactory()  # requested, nothing planned
    signed_in(client, manager)
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "plan"]), {"reason": ""}
    )
    assert response.status_code == 409
    text = text_of(response)
    assert f"{release.number} cannot plan yet" in text
    assert "Add at least one target CI." in text
    assert 'role="alert"' in response.content.decode()
    release.refresh_from_db()
    assert release.state == S.REQUESTED
    assert not ReleaseTransition.objects.filter(release=release).exists()


def test_an_illegal_transition_is_409_naming_what_is_allowed(client, manager):
    release = ReleaseFactory()
    signed_in(client, manager)
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "accept"]), {"reason": ""}
    )
    assert response.status_code == 409
    text = text_of(response)
    assert "is requested: it cannot accept now" in text
    assert "What you can do from here: Plan, Cancel release." in text


def test_a_missing_reason_is_400_and_an_unknown_transition_404(client, manager):
    release = ReleaseFactory()
    signed_in(client, manager)
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "cancel"]), {"reason": " "}
    )
    assert response.status_code == 400
    assert "Give a reason to cancel." in text_of(response)
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "teleport"]), {"reason": "x"}
    )
    assert response.status_code == 404
    assert (
        client.get(reverse("releases:release-transition", args=[release.pk, "plan"])).status_code
        == 405
    )
    assert client.get(reverse("releases:release-detail", args=[999999])).status_code == 404


def test_the_timeline_shows_times_in_the_users_time_zone(client, role_user):
    viewer = role_user("auditor", time_zone="Europe/Berlin")
    release = ReleaseFactory()
    ReleaseTransition.objects.create(
        release=release,
        name="cancel",
        source=S.REQUESTED,
        target=S.CANCELLED,
        at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
        by_name="system",
        reason="Superseded",
    )
    signed_in(client, viewer)
    response = client.get(reverse("releases:release-detail", args=[release.pk]))
    html, text = response.content.decode(), text_of(response)
    # the one format of the pages, in the viewer's zone, the instant in the element
    assert "15 Jan 2026 10:30 · system" in text
    assert '<time datetime="2026-01-15T10:30:00+01:00">15 Jan 2026 10:30</time>' in html
    assert "Superseded" in text
    assert "Times in Europe/Berlin" in text


# Test sign-off and roll-out tasks.


def test_sign_off_records_result_evidence_and_who(client, manager):
    release = release_in_testing(manager)
    changed = release.test_scope.get(kind=choices.TestKind.CHANGED_ITEM)
    signed_in(client, manager)
    page = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert page.count('class="sign-off"') == 2
    response = client.post(
        reverse("releases:test-sign-off", args=[release.pk, changed.pk]),
        {f"test-{changed.pk}-result": "passed", f"test-{changed.pk}-evidence": "CI run #812"},
    )
    assert response.status_code == 302
    changed.refresh_from_db()
    assert (changed.result, changed.evidence, changed.signed_off_by) == (
        choices.TestResult.PASSED,
        "CI run #812",
        manager,
    )
    text = text_of(client.get(response["Location"]))
    assert "CI run #812" in text and "Signed off by rita" in text
    assert "1 of 2 passed or waived" in text


def test_the_backout_rehearsal_needs_evidence(client, manager):
    release = release_in_testing(manager)
    rehearsal = release.test_scope.get(kind=choices.TestKind.BACKOUT_REHEARSAL)
    signed_in(client, manager)
    response = client.post(
        reverse("releases:test-sign-off", args=[release.pk, rehearsal.pk]),
        {f"test-{rehearsal.pk}-result": "passed", f"test-{rehearsal.pk}-evidence": ""},
    )
    assert response.status_code == 400
    assert "Say how the back-out was rehearsed and that the baseline was restored." in text_of(
        response
    )
    rehearsal.refresh_from_db()
    assert rehearsal.result == choices.TestResult.PENDING
    response = client.post(
        reverse("releases:test-sign-off", args=[release.pk, rehearsal.pk]),
        {f"test-{rehearsal.pk}-evidence": "rolled back"},
    )
    assert response.status_code == 400  # no result chosen
    assert "This field is required." in text_of(response)


def test_sign_off_without_permission_or_outside_testing_is_refused(client, manager, auditor):
    release = release_in_testing(manager)
    item = release.test_scope.get(kind=choices.TestKind.CHANGED_ITEM)
    url = reverse("releases:test-sign-off", args=[release.pk, item.pk])
    data = {f"test-{item.pk}-result": "passed", f"test-{item.pk}-evidence": "ok"}
    signed_in(client, auditor)
    response = client.post(url, data)
    assert response.status_code == 403
    assert "permission to sign off release tests" in text_of(response)
    services.release_transition(release=release, name="fail_tests", by=manager, reason="broken")
    signed_in(client, manager)
    response = client.post(url, data)
    assert response.status_code == 409
    assert "is not in testing" in text_of(response)


def test_accept_after_every_test_passed(client, manager):
    release = release_in_testing(manager)
    signed_in(client, manager)
    for item in release.test_scope.all():
        client.post(
            reverse("releases:test-sign-off", args=[release.pk, item.pk]),
            {f"test-{item.pk}-result": "passed", f"test-{item.pk}-evidence": "done"},
        )
    response = client.post(reverse("releases:release-transition", args=[release.pk, "accept"]))
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.state == S.ACCEPTED
    html = client.get(response["Location"]).content.decode()
    assert 'class="node current" data-state="accepted"' in html


def test_rollout_tasks_are_marked_done_while_the_rollout_is_planned(client, manager, auditor):
    release = ReleaseFactory(state=S.ACCEPTED)
    services.release_transition(release=release, name="plan_rollout", by=manager)
    task = release.rollout_tasks.get(kind="communication")
    signed_in(client, auditor)
    assert (
        "Mark done"
        not in client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    )
    assert (
        client.post(reverse("releases:rollout-task-done", args=[release.pk, task.pk])).status_code
        == 403
    )
    signed_in(client, manager)
    assert (
        "Mark done"
        in client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    )
    response = client.post(reverse("releases:rollout-task-done", args=[release.pk, task.pk]))
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "done" and task.done_by == manager
    again = client.post(reverse("releases:rollout-task-done", args=[release.pk, task.pk]))
    assert again.status_code == 409
    assert "already done" in text_of(again)


# Change requests.


def test_change_requests_search_and_detail_with_their_releases(client, auditor):
    wanted = ChangeRequestFactory(
        number="CHG0031042", title="SEPA instant payments", raw={"sys_id": "abc"}
    )
    ChangeRequestFactory(number="CHG0031043", title="Printer drivers")
    release = ReleaseFactory(title="Billing 3.6.0")
    release.change_requests.add(wanted)
    signed_in(client, auditor)
    response = client.get(reverse("releases:change-list") + "?search=sepa")
    assert response.status_code == 200
    assert [c.number for c in response.context["page"].object_list] == ["CHG0031042"]
    detail = client.get(reverse("releases:change-detail", args=[wanted.pk]))
    text = text_of(detail)
    assert release.number in text and "Billing 3.6.0" in text
    assert "&quot;sys_id&quot;: &quot;abc&quot;" in detail.content.decode()
    assert client.get(reverse("releases:change-detail", args=[999999])).status_code == 404


def test_a_release_with_many_targets_lists_the_first_ones_and_counts_them_all(client, role_user):
    from releases.models import ReleaseTarget
    from tests.factories import ConfigurationItemFactory, ReleaseFactory

    release = ReleaseFactory()
    cis = ConfigurationItemFactory.create_batch(230)
    ReleaseTarget.objects.bulk_create([ReleaseTarget(release=release, ci=ci) for ci in cis])
    client.force_login(role_user("auditor"))
    page = client.get(f"/releases/{release.pk}/").content.decode()
    assert "Targets (230)" in page
    assert "Show the first 200 of 230 target CIs" in page


@pytest.mark.postgres
def test_the_search_reads_the_trigram_indexes(db):
    # issue #13: ?search= on 50,000 releases is an index scan, not a sequential one
    from releases.filtersets import ReleaseFilterSet

    ReleaseFactory(title="Antivirus engine")
    queryset = ReleaseFilterSet({"search": "virus"}, queryset=Release.objects.order_by()).qs
    plan = bitmap_plan(queryset)
    assert "releases_title_trgm" in plan
    assert "releases_number_trgm" in plan
