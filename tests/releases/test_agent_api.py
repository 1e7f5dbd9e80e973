"""The agent API: work, reports (idempotent, scoped, halted), heartbeat, health signals,
overrides and the back-out queue — over HTTP with bearer tokens."""

import itertools

import pytest
from django.utils import timezone

from releasemgmt.accounts.services import api_token_issue
from releases import selectors
from releases.choices import InstallationState as IS
from releases.choices import ReleaseState as S
from releases.models import DeploymentReport, ReleaseTarget
from tests.releases.test_deployment import make_release

pytestmark = pytest.mark.django_db
_names = itertools.count()


@pytest.fixture
def integration(role_user):
    return role_user("integration")


def client_for(user, ci_scope=""):
    from rest_framework.test import APIClient

    _, raw = api_token_issue(
        user=user, name=f"agent-{ci_scope or 'all'}-{next(_names)}", by=None, ci_scope=ci_scope
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_work_lists_downloads_installations_and_backouts(integration):
    release = make_release(targets=2, state=S.INSTALLING)
    first, second = release.targets.order_by("pk")
    ReleaseTarget.objects.filter(pk=first.pk).update(
        installation_state=IS.RUNNING, distribution_state="delivered"
    )
    client = client_for(integration)
    body = client.get("/api/v1/agent/work/", {"ci": first.ci.identifier}).json()
    assert body["downloads"] == []
    (install,) = body["installations"]
    assert install["release"] == release.number
    assert install["report"].endswith(f"/api/v1/release-targets/{first.pk}/installation/")
    artefact = install["artefacts"][0]
    assert artefact["sha256"] and artefact["url"].endswith("/download/")
    other = client.get("/api/v1/agent/work/", {"ci": second.ci.identifier}).json()
    assert len(other["downloads"]) == 1 and other["installations"] == []


def test_work_needs_a_known_ci(integration):
    client = client_for(integration)
    assert client.get("/api/v1/agent/work/").status_code == 400
    assert client.get("/api/v1/agent/work/", {"ci": "ghost"}).status_code == 404


def test_reports_are_idempotent_on_report_id(integration):
    release = make_release(targets=3, threshold=50)
    target = release.targets.first()
    ReleaseTarget.objects.filter(pk=target.pk).update(installation_state=IS.RUNNING)
    client = client_for(integration)
    url = f"/api/v1/release-targets/{target.pk}/installation/"
    body = {"status": "succeeded", "detail": "ok", "report_id": "r-1"}
    first = client.post(url, body, format="json")
    again = client.post(url, body, format="json")
    assert first.status_code == again.status_code == 200
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    release.refresh_from_db()
    assert release.count_installed == 1


def test_a_repeat_with_another_status_changes_nothing_and_shows_the_target_as_stored(integration):
    # given: a target whose installation succeeded, reported once
    release = make_release(targets=3, threshold=50)
    target = release.targets.order_by("pk").first()
    ReleaseTarget.objects.filter(pk=target.pk).update(installation_state=IS.RUNNING)
    client = client_for(integration)
    url = f"/api/v1/release-targets/{target.pk}/installation/"
    client.post(url, {"status": "succeeded", "detail": "ok", "report_id": "r-1"}, format="json")

    # when: the same report_id comes again saying the opposite
    again = client.post(
        url, {"status": "failed", "detail": "boom", "report_id": "r-1"}, format="json"
    )

    # then: it is the first report, and neither the target nor the counters moved
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    shown = again.json()["target"]
    assert (shown["installation_state"], shown["detail"]) == (IS.SUCCEEDED, "ok")
    target.refresh_from_db()
    assert (target.installation_state, target.detail) == (IS.SUCCEEDED, "ok")
    release.refresh_from_db()
    assert (release.count_installed, release.count_install_failed) == (1, 0)


def test_a_report_answers_with_the_target_as_the_target_list_shows_it(integration, role_user):
    # given: a running target with its timestamps set
    release = make_release(targets=2, threshold=90)
    target = release.targets.order_by("pk").first()
    now = timezone.now()
    ReleaseTarget.objects.filter(pk=target.pk).update(
        installation_state=IS.RUNNING,
        distribution_state="delivered",
        due_at=now,
        dispatched_at=now,
        distributed_at=now,
        attempts=2,
    )
    client = client_for(integration)

    # when
    answer = client.post(
        f"/api/v1/release-targets/{target.pk}/installation/",
        {"status": "succeeded", "detail": "done", "report_id": "r-shape"},
        format="json",
    ).json()

    # then: the same fields and values as the target list (the shared serializer gives them)
    listed = client_for(role_user("auditor")).get(
        "/api/v1/release-targets/", {"release": release.pk}
    )
    (shown,) = [row for row in listed.json()["results"] if row["id"] == target.pk]
    assert answer["target"] == shown
    assert (answer["target"]["installation_state"], answer["target"]["detail"]) == (
        IS.SUCCEEDED,
        "done",
    )
    assert answer["report"] == DeploymentReport.objects.get(target=target).pk


def test_report_errors(integration, role_user):
    release = make_release(targets=1)
    target = release.targets.get()
    client = client_for(integration)
    url = f"/api/v1/release-targets/{target.pk}/installation/"
    assert (
        client.post(
            "/api/v1/release-targets/999999/installation/",
            {"status": "failed", "report_id": "x"},
            format="json",
        ).status_code
        == 404
    )
    bad = client.post(url, {"status": "exploded", "report_id": "x"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    assert client.post(url, {"status": "failed"}, format="json").status_code == 400
    wrong = client.post(
        url, {"status": "failed", "report_id": "x", "release": "REL-1999-0001"}, format="json"
    )
    assert wrong.status_code == 403 and release.number in wrong.json()["detail"]
    assert (
        client_for(role_user("auditor"))
        .post(url, {"status": "failed", "report_id": "x"}, format="json")
        .status_code
        == 403
    )
    assert client.post(url, "not json", content_type="text/plain").status_code == 415


def test_a_scoped_token_acts_only_for_its_ci(integration):
    release = make_release(targets=2)
    mine, other = release.targets.order_by("pk")
    client = client_for(integration, ci_scope=mine.ci.identifier)
    assert client.get("/api/v1/agent/work/", {"ci": mine.ci.identifier}).status_code == 200
    assert client.get("/api/v1/agent/work/", {"ci": other.ci.identifier}).status_code == 403
    refused = client.post(
        f"/api/v1/release-targets/{other.pk}/installation/",
        {"status": "failed", "report_id": "x"},
        format="json",
    )
    assert refused.status_code == 403
    assert (
        client.post(
            "/api/v1/agent/heartbeat/", {"ci": other.ci.identifier, "login_count": 0}, format="json"
        ).status_code
        == 403
    )


def test_reports_after_the_halt_answer_409_and_are_kept(integration):
    release = make_release(targets=4, threshold=10)
    targets = list(release.targets.order_by("pk"))
    ReleaseTarget.objects.filter(release=release).update(installation_state=IS.RUNNING)
    client = client_for(integration)
    client.post(
        f"/api/v1/release-targets/{targets[0].pk}/installation/",
        {"status": "failed", "report_id": "a"},
        format="json",
    )
    late = client.post(
        f"/api/v1/release-targets/{targets[1].pk}/installation/",
        {"status": "succeeded", "report_id": "b"},
        format="json",
    )
    assert late.status_code == 409
    assert late.json()["recorded"] is True
    assert "recorded, not acted on" in late.json()["detail"]


def test_heartbeat_records_login_count(integration):
    release = make_release(targets=1)
    ci = release.targets.get().ci
    response = client_for(integration).post(
        "/api/v1/agent/heartbeat/", {"ci": ci.identifier, "login_count": 2}, format="json"
    )
    assert response.status_code == 200
    ci.agent_status.refresh_from_db()
    assert ci.agent_status.login_count == 2
    assert (
        client_for(integration)
        .post("/api/v1/agent/heartbeat/", {"ci": ci.identifier, "login_count": -1}, format="json")
        .status_code
        == 400
    )


def test_failed_health_signal_requires_backout(integration):
    release = make_release(targets=2, threshold=90)
    release.failure_conditions.create(
        kind="health_signal_failed", parameters={"signal": "checkout-synthetic"}
    )
    client = client_for(integration)
    ok = client.post(
        f"/api/v1/releases/{release.pk}/health-signals/",
        {"signal": "checkout-synthetic", "status": "ok"},
        format="json",
    )
    assert ok.json() == {"state": "installing"}
    failed = client.post(
        f"/api/v1/releases/{release.pk}/health-signals/",
        {"signal": "checkout-synthetic", "status": "failed"},
        format="json",
    )
    assert failed.json() == {"state": "backout_required"}
    release.refresh_from_db()
    assert release.backout_condition == "health signal “checkout-synthetic” failed"


def test_backout_queue_and_override_through_the_api(role_user):
    release = make_release(targets=4, threshold=10)
    targets = list(release.targets.order_by("pk"))
    ReleaseTarget.objects.filter(pk=targets[0].pk).update(installation_state=IS.RUNNING)
    from releases.services.reports import target_report

    target_report(target_id=targets[0].pk, kind="installation", status="failed", report_id="x")
    first, second = role_user("ops"), role_user("ops")
    one, two = client_for(first), client_for(second)
    (row,) = one.get("/api/v1/backout-queue/").json()["results"]
    assert row["number"] == release.number and row["backout_condition"].startswith("failure rate")
    # the same rows the queue page shows, with the same progress (one selector)
    (shown,) = selectors.backout_queue_with_progress()
    assert row["progress"] == shown.progress and row["progress"]["targets"] == 4
    requested = one.post(
        f"/api/v1/releases/{release.pk}/overrides/",
        {"reason": "Known flaky lab box; production targets are fine."},
        format="json",
    )
    assert requested.status_code == 201
    override_id = requested.json()["id"]
    assert one.post(f"/api/v1/overrides/{override_id}/confirm/").status_code == 403
    confirmed = two.post(f"/api/v1/overrides/{override_id}/confirm/")
    assert confirmed.status_code == 200 and confirmed.json()["confirmed_by"] == second.username
    release.refresh_from_db()
    assert release.state == S.INSTALLING


def test_freeze_windows_api(role_user):
    client = client_for(role_user("change_manager"))
    bad = client.post(
        "/api/v1/freeze-windows/",
        {"start": "2026-12-24T00:00:00Z", "end": "2026-12-20T00:00:00Z", "reason": "Xmas"},
        format="json",
    )
    assert bad.status_code == 400
    created = client.post(
        "/api/v1/freeze-windows/",
        {
            "start": "2026-12-20T00:00:00Z",
            "end": "2027-01-02T00:00:00Z",
            "reason": "Year-end freeze",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (
        client_for(role_user("ops")).post("/api/v1/freeze-windows/", {}, format="json").status_code
        == 403
    )


def test_one_person_cannot_override_through_the_transition(role_user):
    release = make_release(targets=4, threshold=10)
    target = release.targets.first()
    ReleaseTarget.objects.filter(pk=target.pk).update(installation_state=IS.RUNNING)
    from releases.services.reports import target_report

    target_report(target_id=target.pk, kind="installation", status="failed", report_id="x")
    client = client_for(role_user("ops"))
    response = client.post(
        f"/api/v1/releases/{release.pk}/transitions/override_backout/",
        {"reason": "just me"},
        format="json",
    )
    assert response.status_code == 409
    assert "needs two people" in response.json()["detail"]
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED


def test_malformed_reports_are_400_and_write_nothing(integration):
    release = make_release(targets=1)
    target = release.targets.get()
    ReleaseTarget.objects.filter(pk=target.pk).update(installation_state=IS.RUNNING)
    client = client_for(integration)
    url = f"/api/v1/release-targets/{target.pk}/installation/"
    for body in (
        "{not json",
        "[]",
        '{"status": 5, "report_id": "x"}',
        '{"status": "failed", "report_id": {"nested": true}}',
        '{"status": "failed", "report_id": "' + "x" * 101 + '"}',
        '{"status": "failed", "report_id": "x", "detail": "' + "d" * 5001 + '"}',
        '{"status": "failed", "report_id": "   "}',
    ):
        answer = client.post(url, body, content_type="application/json")
        assert answer.status_code == 400, body[:40]
        assert answer.json()["detail"]
    assert not DeploymentReport.objects.exists()
    release.refresh_from_db()
    target.refresh_from_db()
    assert (release.count_install_failed, target.installation_state) == (0, IS.RUNNING)
    assert client.get(url).status_code == 405
    assert (
        client_for(integration)
        .post("/api/v1/release-targets/not-a-number/installation/", {}, format="json")
        .status_code
        == 404
    )
