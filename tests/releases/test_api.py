import threading
from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from releasemgmt.core.models import AuditEvent
from releases import services
from releases.choices import ReleaseState as S
from tests import api_mixins as api
from tests.concurrency import run_together
from tests.factories import (
    ChangeRequestFactory,
    ConfigurationItemFactory,
    ReleaseFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/releases/"


class TestReleaseReadAPI(api.ListObjects, api.GetObject):
    url_name = "releases-api:release"
    factory = ReleaseFactory
    model = __import__("releases.models", fromlist=["Release"]).Release
    max_list_queries = 9


@pytest.fixture
def manager(role_user):
    return role_user("release_manager")


def plan_payload(unit):
    now = timezone.now()
    return {
        "title": "Billing 3.6",
        "level": "delta",
        "release_unit": unit.pk,
        "trigger": "change_request",
        "trigger_reference": "CHG0031234",
        "distribution_start": (now + timedelta(days=1)).isoformat(),
        "distribution_end": (now + timedelta(days=2)).isoformat(),
        "installation_start": (now + timedelta(days=2)).isoformat(),
        "installation_end": (now + timedelta(days=3)).isoformat(),
    }


def test_create_and_plan_a_release_through_the_api(token_client, manager):
    client = token_client(manager)
    unit = ConfigurationItemFactory(service=True)
    version = SoftwareVersionFactory()
    target = ConfigurationItemFactory()

    # when: created, filled and planned
    response = client.post(URL, plan_payload(unit), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"].startswith(f"REL-{timezone.now().year}-")
    assert body["state"] == "requested"
    assert [t["name"] for t in body["available_transitions"]] == ["plan", "cancel"]
    release_url = f"{URL}{body['id']}/"

    refused = client.post(f"{release_url}transitions/plan/", {"reason": "ready"}, format="json")
    assert refused.status_code == 409
    assert "Add at least one item" in refused.json()["detail"]
    assert "Declare at least one failure condition." in refused.json()["problems"]

    assert (
        client.post(
            f"{release_url}items/", {"software_version": version.pk}, format="json"
        ).status_code
        == 200
    )
    assert (
        client.put(
            f"{release_url}targets/", {"cis": [target.identifier]}, format="json"
        ).status_code
        == 200
    )
    assert (
        client.put(
            f"{release_url}backout-plan/",
            {"steps": ["Reinstall 3.5.0", "Smoke test"]},
            format="json",
        ).status_code
        == 200
    )
    condition = {"kind": "failure_rate_above", "threshold": "10.00"}
    assert (
        client.post(f"{release_url}failure-conditions/", condition, format="json").status_code
        == 200
    )
    planned = client.post(
        f"{release_url}transitions/plan/", {"reason": "CAB approved"}, format="json"
    )

    # then
    assert planned.status_code == 200, planned.content
    body = planned.json()
    assert body["state"] == "planned"
    assert [s["description"] for s in body["backout_steps"]] == ["Reinstall 3.5.0", "Smoke test"]
    history = client.get(f"{release_url}history/").json()["results"]
    assert [(h["name"], h["by_name"], h["reason"]) for h in history] == [
        ("plan", manager.username, "CAB approved")
    ]


def test_illegal_transition_is_409_with_the_allowed_ones(token_client, manager):
    release = ReleaseFactory(state=S.PLANNED)
    response = token_client(manager).post(
        f"{URL}{release.pk}/transitions/accept/", {}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["state"] == "planned"
    assert [t["name"] for t in body["available_transitions"]] == ["build", "cancel"]


def test_missing_permission_is_403(token_client, role_user):
    release = ReleaseFactory(state=S.REQUESTED)
    response = token_client(role_user("ops")).post(
        f"{URL}{release.pk}/transitions/plan/", {}, format="json"
    )
    assert response.status_code == 403
    assert "permission" in response.json()["detail"]


def test_unknown_transition_is_404(token_client, manager):
    release = ReleaseFactory()
    response = token_client(manager).post(
        f"{URL}{release.pk}/transitions/teleport/", {}, format="json"
    )
    assert response.status_code == 404
    assert "no transition named 'teleport'" in response.json()["detail"]


def test_reason_is_required_to_cancel(token_client, manager):
    release = ReleaseFactory()
    response = token_client(manager).post(
        f"{URL}{release.pk}/transitions/cancel/", {"reason": " "}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"reason": "Give a reason to cancel."}


def test_state_is_read_only(token_client, manager):
    release = ReleaseFactory()
    response = token_client(manager).patch(
        f"{URL}{release.pk}/", {"state": "closed", "title": "Renamed"}, format="json"
    )
    assert response.status_code == 200
    release.refresh_from_db()
    assert (release.state, release.title) == ("requested", "Renamed")


def test_a_deployment_tool_distribution_without_the_tools_name_is_400(token_client, manager):
    # issue 11: the rule was the form's only; the API accepted it
    release = ReleaseFactory()
    client = token_client(manager)

    response = client.patch(
        f"{URL}{release.pk}/", {"distribution_method": "deployment_tool"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "deployment_tool": "Name the deployment tool that reports back."
    }
    release.refresh_from_db()
    assert release.distribution_method == "agent_pull"
    response = client.patch(
        f"{URL}{release.pk}/",
        {"distribution_method": "deployment_tool", "deployment_tool": "SCCM"},
        format="json",
    )
    assert response.status_code == 200
    release.refresh_from_db()
    assert (release.distribution_method, release.deployment_tool) == ("deployment_tool", "SCCM")
    refused = client.patch(f"{URL}{release.pk}/", {"deployment_tool": " "}, format="json")
    assert refused.status_code == 400
    created = client.post(
        URL,
        {"title": "Billing 3.7", "level": "delta", "distribution_method": "deployment_tool"},
        format="json",
    )
    assert created.status_code == 400
    assert "deployment_tool" in created.json()["errors"]


def test_editing_a_frozen_plan_is_409(token_client, manager):
    release = ReleaseFactory(state=S.ACCEPTED)
    client = token_client(manager)
    response = client.patch(f"{URL}{release.pk}/", {"title": "Too late"}, format="json")
    assert response.status_code == 409
    assert "frozen" in response.json()["detail"]
    assert (
        client.put(f"{URL}{release.pk}/backout-plan/", {"steps": ["x"]}, format="json").status_code
        == 409
    )


def test_unauthorised_version_cannot_enter(token_client, manager):
    release = ReleaseFactory()
    draft = SoftwareVersionFactory(status="draft")
    response = token_client(manager).post(
        f"{URL}{release.pk}/items/", {"software_version": draft.pk}, format="json"
    )
    assert response.status_code == 400
    assert "only authorised versions" in response.json()["detail"]


def test_unknown_targets_are_named(token_client, manager):
    release = ReleaseFactory()
    response = token_client(manager).put(
        f"{URL}{release.pk}/targets/", {"cis": ["ghost-01"]}, format="json"
    )
    assert response.status_code == 400
    assert "ghost-01" in response.json()["detail"]


@pytest.mark.parametrize("odd", ["¹", "²٣", "99999999999999999999"])
def test_digit_like_or_huge_targets_are_unknown_not_a_500(token_client, manager, odd):
    # str.isdigit() accepts "¹"; int() does not. A 20-digit id overflows the column.
    release = ReleaseFactory()
    response = token_client(manager).put(
        f"{URL}{release.pk}/targets/", {"cis": [odd]}, format="json"
    )
    assert response.status_code == 400
    assert odd in response.json()["detail"]


@pytest.mark.parametrize("odd", ["¹", "99999999999999999999"])
def test_a_digit_like_or_huge_unit_filter_matches_nothing(token_client, manager, odd):
    ReleaseFactory()
    response = token_client(manager).get(URL, {"unit": odd})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_filters(token_client, manager):
    change = ChangeRequestFactory(number="CHG0099999")
    wanted = ReleaseFactory(state=S.TESTING, level="full")
    wanted.change_requests.add(change)
    ReleaseFactory(state=S.TESTING, level="delta")
    ReleaseFactory(state=S.PLANNED, level="full")
    client = token_client(manager)
    for params in (
        {"state": "testing", "level": "full"},
        {"change": "chg0099999"},
        {"unit": wanted.release_unit.identifier},
    ):
        results = client.get(URL, params).json()["results"]
        assert [r["number"] for r in results] == [wanted.number], params


def test_change_requests_api_lists_their_releases(token_client, manager):
    release = ReleaseFactory()
    change = ChangeRequestFactory(title="Upgrade billing")
    release.change_requests.add(change)
    client = token_client(manager)
    body = client.get("/api/v1/change-requests/", {"search": "billing"}).json()
    assert [c["number"] for c in body["results"]] == [change.number]
    detail = client.get(f"/api/v1/change-requests/{change.pk}/").json()
    assert detail["releases"][0]["number"] == release.number


def test_transitions_are_audited(token_client, manager):
    release = ReleaseFactory(state=S.VERIFIED)
    token_client(manager).post(
        f"{URL}{release.pk}/transitions/cancel/",
        {"reason": "Vendor withdrew the patch"},
        format="json",
    )
    event = AuditEvent.objects.get(action="release.cancel")
    assert (event.actor, event.before, event.after["state"], event.reason) == (
        manager,
        {"state": "verified"},
        "cancelled",
        "Vendor withdrew the patch",
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_taking_the_same_transition_at_once_one_wins():
    # given: a release waiting for a back-out decision and two ops people clicking together
    release = ReleaseFactory(state=S.BACKOUT_REQUIRED, planned=True)
    release.targets.update(installation_state="succeeded")  # something to back out
    first, second = UserFactory(roles=["ops"]), UserFactory(roles=["ops"])
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(user):
        from releasemgmt.core.exceptions import DomainConflict
        from releases import services

        try:
            barrier.wait()
            services.release_transition(
                release=release.pk, name="approve_backout", by=user, reason="failure rate 40%"
            )
            outcomes.append("ok")
        except DomainConflict as error:
            outcomes.append(error.extra.get("state", "conflict"))
        finally:
            connection.close()

    run_together(partial(approve, first), partial(approve, second))

    # then: exactly one transition; the other was told the release moved on
    assert sorted(outcomes) == ["backing_out", "ok"]
    release.refresh_from_db()
    assert release.state == S.BACKING_OUT
    assert release.transitions.count() == 1


def test_the_detail_shows_a_first_page_of_targets_and_where_the_rest_are(
    token_client, manager, django_assert_max_num_queries
):
    release = ReleaseFactory()
    cis = ConfigurationItemFactory.create_batch(230)
    services.release_targets_set(release=release, cis=cis, by=manager)
    client = token_client(UserFactory(roles=["auditor"]))
    with django_assert_max_num_queries(20):
        body = client.get(f"{URL}{release.pk}/").json()
    assert body["target_count"] == 230
    assert len(body["targets"]) == 200
    identifiers = [target["identifier"] for target in body["targets"]]
    first = release.targets.order_by("ci__identifier").values_list("ci__identifier", flat=True)
    assert identifiers == list(first[:200])
    assert body["targets_url"].endswith(f"/api/v1/release-targets/?release={release.pk}")
    everything = client.get(body["targets_url"], {"page_size": 500}).json()
    assert everything["count"] == 230


def test_the_list_takes_the_same_queries_for_5_or_50_releases_with_their_changes(
    token_client, django_assert_num_queries
):
    client = token_client(UserFactory(roles=["auditor"]))

    def add(count):
        for release in ReleaseFactory.create_batch(count):
            release.change_requests.add(ChangeRequestFactory(), ChangeRequestFactory())

    add(5)
    client.get(URL)  # warm the token and permission caches
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(URL, {"page_size": 50}).json()["results"]) == 5
    add(45)
    with django_assert_num_queries(len(few)):
        body = client.get(URL, {"page_size": 50}).json()
    assert len(body["results"]) == 50
    assert {"state", "source_system"} <= set(body["results"][0]["change_requests"][0])
