"""Issue #12: no dead ends and figures that match the targets — results reported after the halt,
retrying failed targets after an override, override requests withdrawn by the back-out."""

from datetime import timedelta

import pytest
from django.urls import reverse

from releasemgmt.core.exceptions import DomainConflict, DomainPermissionDenied
from releasemgmt.core.models import AuditEvent
from releases import selectors, services
from releases.choices import InstallationState as IS
from releases.choices import OverrideStatus
from releases.choices import ReleaseState as S
from releases.models import FailureCondition, Release, ReleaseTarget
from releases.services import failure_conditions, installation, overrides
from tests.releases.test_deployment import make_release, report
from tests.releases.test_pages_deployment import text_of

pytestmark = pytest.mark.django_db


def halted_with_running(running=10, failing=3, halted=5):
    """A release halted while ``running`` installations were under way (their agents have not
    reported yet): ``failing`` failed, which crossed the condition, ``halted`` never started."""
    release = make_release(targets=failing + running + halted, threshold=90)
    FailureCondition.objects.create(
        release=release, kind="failed_targets_at_least", threshold=failing
    )
    targets = list(release.targets.order_by("pk"))
    ReleaseTarget.objects.filter(pk__in=[t.pk for t in targets[: failing + running]]).update(
        installation_state=IS.RUNNING, attempts=1
    )
    ReleaseTarget.objects.filter(pk__in=[t.pk for t in targets[failing + running :]]).update(
        installation_state=IS.SCHEDULED
    )
    for target in targets[:failing]:
        report(target, "failed")
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    return release, targets[failing : failing + running]


def test_the_queue_counts_no_target_as_running_once_its_agent_reported_after_the_halt():
    # given: ten installations running when the release halted
    release, running = halted_with_running(running=10)

    # when: their agents report, late — eight succeeded, two failed
    for target in running[:8]:
        with pytest.raises(DomainConflict, match="recorded, not acted on"):
            report(target, "succeeded")
    for target in running[8:]:
        with pytest.raises(DomainConflict, match="recorded, not acted on"):
            report(target, "failed")

    # then: the queue's figures are the targets' states — nothing is running any more
    (queued,) = selectors.backout_queue_with_progress()
    progress = queued.progress
    states = dict(
        (state, release.targets.filter(installation_state=state).count())
        for state in (IS.RUNNING, IS.SUCCEEDED, IS.FAILED, IS.HALTED)
    )
    assert progress["running"] == states[IS.RUNNING] == 0
    assert progress["installed"] == states[IS.SUCCEEDED] == 8
    assert progress["failed"] == states[IS.FAILED] == 5
    assert progress["halted"] == states[IS.HALTED] == 5
    # the release page's figures agree
    release.refresh_from_db()
    figures = selectors.release_progress(release)
    assert (figures["running"], figures["installed"], figures["installation_failed"]) == (0, 8, 5)
    # the halt itself stays as it was recorded, and nothing was decided from the late reports
    assert release.state == S.BACKOUT_REQUIRED
    assert release.backout_figures["installation_failed"] == 3


def test_a_late_report_repeated_has_no_second_effect():
    release, running = halted_with_running(running=2)
    with pytest.raises(DomainConflict):
        report(running[0], "succeeded")
    _, created = report(running[0], "succeeded")
    assert created is False
    release.refresh_from_db()
    assert release.count_installed == 1


def test_a_late_success_is_backed_out_like_any_other(role_user):
    release, running = halted_with_running(running=2)
    with pytest.raises(DomainConflict):
        report(running[0], "succeeded")
    release = services.release_transition(
        release=release, name="approve_backout", by=role_user("ops")
    )
    # the three failed, the late success and the one still running are undone; the halted not
    assert release.targets.filter(installation_state=IS.BACKING_OUT).count() == 5


# An override request still waiting when the back-out starts is withdrawn.


def requested_override(release, ops):
    return overrides.backout_override_request(
        release=release, by=ops, reason="The failing hosts are lab boxes; production is fine."
    )


def test_approving_the_backout_withdraws_the_waiting_override_request(role_user):
    # given: a halted release with an override request waiting for a second person
    release, _ = halted_with_running(running=2)
    asking, approving, confirming = role_user("ops"), role_user("ops"), role_user("ops")
    override = requested_override(release, asking)

    # when: another ops person approves the back-out
    services.release_transition(release=release, name="approve_backout", by=approving)

    # then: the request is withdrawn, audited, and can no longer be confirmed
    override.refresh_from_db()
    assert override.status == OverrideStatus.WITHDRAWN
    event = AuditEvent.objects.get(action="release.override_withdrawn")
    assert (event.actor, event.object_id) == (approving, str(release.pk))
    assert event.after == {"override": override.pk, "status": "withdrawn"}
    assert asking.username in event.reason and "approved" in event.reason
    with pytest.raises(DomainConflict) as refused:
        overrides.backout_override_confirm(override=override, by=confirming)
    assert "withdrawn" in refused.value.message
    assert "back-out" in refused.value.message
    release.refresh_from_db()
    assert release.state == S.BACKING_OUT


def test_the_deadline_starting_the_backout_withdraws_the_waiting_override_request(role_user):
    release, _ = halted_with_running(running=2)
    override = requested_override(release, role_user("ops"))

    failure_conditions.watchdog(now=release.backout_deadline + timedelta(seconds=1))

    override.refresh_from_db()
    assert override.status == OverrideStatus.WITHDRAWN
    event = AuditEvent.objects.get(action="release.override_withdrawn")
    assert event.actor_name == "system" and "deadline" in event.reason
    assert not selectors.backout_queue_with_progress()[0].open_overrides


def test_a_confirmed_override_is_not_withdrawn_later(role_user):
    release, _ = halted_with_running(running=2)
    override = requested_override(release, role_user("ops"))
    overrides.backout_override_confirm(override=override, by=role_user("ops"))
    override.refresh_from_db()
    assert override.status == OverrideStatus.CONFIRMED
    assert not AuditEvent.objects.filter(action="release.override_withdrawn").exists()


def test_the_queue_and_the_release_page_show_the_withdrawn_override(client, role_user):
    release, _ = halted_with_running(running=2)
    asking, approving = role_user("ops"), role_user("ops")
    override = requested_override(release, asking)
    services.release_transition(release=release, name="approve_backout", by=approving)
    client.force_login(approving)

    queue = text_of(client.get(reverse("releases:backout-queue")))
    page = text_of(client.get(reverse("releases:release-detail", args=[release.pk])))

    for text in (queue, page):
        assert f"{asking.username}'s override request was withdrawn" in text or (
            f"The override requested by {asking.username}" in text and "was withdrawn" in text
        )
    assert "Confirm override" not in queue
    # confirming it from the page answers 409 with the reason
    response = client.post(
        reverse("releases:override-confirm", args=[release.pk, override.pk]),
        {"origin": "release"},
    )
    assert response.status_code == 409
    assert "withdrawn" in text_of(response)


def test_confirming_a_withdrawn_override_over_the_api_is_409(api_client, role_user):
    release, _ = halted_with_running(running=2)
    override = requested_override(release, role_user("ops"))
    services.release_transition(release=release, name="approve_backout", by=role_user("ops"))
    api_client.force_authenticate(role_user("ops"))
    response = api_client.post(reverse("releases-deployment:override-confirm", args=[override.pk]))
    assert response.status_code == 409
    assert "withdrawn" in response.json()["detail"]
    listed = api_client.get(reverse("releases-deployment:backout-queue")).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert all(row["open_override"] is None for row in rows)


# After a confirmed override the release goes on.


def overridden(role_user, *, running=2, halted=0, **plan):
    """A release halted by three failures with ``running`` installations under way (which then
    succeed) and ``halted`` never started; an override requested and confirmed by two ops."""
    release, under_way = halted_with_running(running=running, failing=3, halted=halted)
    if plan:
        Release.objects.filter(pk=release.pk).update(**plan)
    for target in under_way:
        with pytest.raises(DomainConflict):
            report(target, "succeeded")
    override = requested_override(release, role_user("ops"))
    return overrides.backout_override_confirm(override=override, by=role_user("ops"))


def test_after_an_override_the_failed_targets_are_retried_and_the_release_completes(role_user):
    # given: an override confirmed with every target either installed or failed: nothing runs
    release = overridden(role_user, running=2)
    assert release.state == S.INSTALLING
    assert not release.targets.exclude(installation_state__in=[IS.SUCCEEDED, IS.FAILED]).exists()
    manager = role_user("release_manager")

    # when: the release manager retries the failed targets
    retried = installation.release_retry_failed_targets(release=release, by=manager)

    # then: each runs again as a new attempt, out of the failure count, audited
    assert retried == 3
    failed_before = release.targets.filter(attempts=2)
    assert failed_before.count() == 3
    assert set(failed_before.values_list("installation_state", flat=True)) == {IS.RUNNING}
    release.refresh_from_db()
    assert release.count_install_failed == 0
    event = AuditEvent.objects.get(action="release.retry_failed_targets")
    assert (event.actor, event.after["targets"]) == (manager, 3)
    # and their agents see the work again and report the new attempt: the release completes
    for target in failed_before:
        report(target, "succeeded", report_id=f"retry-{target.pk}")
    release.refresh_from_db()
    assert (release.state, release.count_installed) == (S.INSTALLED, 5)


def test_after_an_override_the_halted_targets_are_the_next_waves(role_user):
    # given: four targets halted in waves of two; the first wave had started (wave 1)
    release = overridden(role_user, running=1, halted=4, wave_size=2, wave_interval_minutes=30)

    # then: they are waves 2 and 3, the first due now, then every 30 minutes
    resumed = list(release.targets.filter(attempts=0).order_by("wave", "pk"))
    assert [(t.installation_state, t.wave) for t in resumed] == [
        (IS.SCHEDULED, 2),
        (IS.SCHEDULED, 2),
        (IS.SCHEDULED, 3),
        (IS.SCHEDULED, 3),
    ]
    assert resumed[2].due_at - resumed[0].due_at == timedelta(minutes=30)
    assert installation.installations_dispatch_due() == 2


def test_retrying_needs_the_permission_an_installing_release_and_a_failure(role_user):
    release = overridden(role_user, running=1)
    with pytest.raises(DomainPermissionDenied):
        installation.release_retry_failed_targets(release=release, by=role_user("auditor"))
    manager = role_user("release_manager")
    installation.release_retry_failed_targets(release=release, by=manager)
    with pytest.raises(DomainConflict, match="nothing to retry"):
        installation.release_retry_failed_targets(release=release, by=manager)
    halted, _ = halted_with_running(running=1)
    with pytest.raises(DomainConflict, match="only while it is installing"):
        installation.release_retry_failed_targets(release=halted, by=manager)


def test_the_api_retries_failed_targets_and_agents_see_the_new_attempt(api_client, role_user):
    release = overridden(role_user, running=1)
    url = reverse("releases-deployment:retry-failed-targets", args=[release.pk])
    api_client.force_authenticate(role_user("auditor"))
    assert api_client.post(url).status_code == 403
    api_client.force_authenticate(role_user("release_manager"))

    response = api_client.post(url, {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"retried": 3, "state": "installing", "count_install_failed": 0}
    assert api_client.post(url).status_code == 409
    retried = release.targets.filter(attempts=2).select_related("ci").first()
    api_client.force_authenticate(role_user("integration"))
    work = api_client.get(reverse("releases-deployment:agent-work"), {"ci": retried.ci.identifier})
    assert [(w["target"], w["attempt"]) for w in work.json()["installations"]] == [(retried.pk, 2)]


def test_the_release_page_says_what_happens_next_after_an_override_and_retries(client, role_user):
    # given: an override confirmed with every target installed or failed
    release = overridden(role_user, running=2)
    url = reverse("releases:release-detail", args=[release.pk])
    client.force_login(role_user("auditor"))
    assert "Retry 3 failed targets" not in text_of(client.get(url))
    manager = role_user("release_manager")
    client.force_login(manager)

    # when: the release manager opens the release
    text = text_of(client.get(url))

    # then: the page says it resumed after the override, what happens next, and offers the retry
    assert "Installation resumed after the override" in text
    assert "What happens next" in text
    assert "3 installations failed" in text
    assert "until then nothing else happens and the release cannot complete" in text
    assert "Nothing you may do at this step" not in text
    assert "Retry 3 failed targets" in text

    # when: they retry
    response = client.post(reverse("releases:release-retry-failed", args=[release.pk]))

    # then: the failed installations run again, a new attempt each
    assert response.status_code == 302
    assert release.targets.filter(installation_state=IS.RUNNING, attempts=2).count() == 3
    text = text_of(client.get(response["Location"]))
    assert "3 failed installations run again" in text
    assert "3 installations running" in text


def test_retrying_with_nothing_failed_is_409_on_the_page(client, role_user):
    release = overridden(role_user, running=1)
    client.force_login(role_user("release_manager"))
    url = reverse("releases:release-retry-failed", args=[release.pk])
    client.post(url)
    response = client.post(url)
    assert response.status_code == 409
    assert "nothing to retry" in text_of(response)
    client.force_login(role_user("auditor"))
    assert client.post(url).status_code == 403


def test_a_failed_target_has_its_own_retry_in_the_targets_table(client, role_user):
    release = overridden(role_user, running=1)
    failed = release.targets.filter(installation_state=IS.FAILED).select_related("ci").first()
    client.force_login(role_user("release_manager"))
    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert f'aria-label="Retry on {failed.ci.identifier}"' in html
    response = client.post(reverse("releases:target-install-now", args=[release.pk, failed.pk]), {})
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.installation_state, failed.attempts) == (IS.RUNNING, 2)
