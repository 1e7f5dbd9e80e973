"""Issue #12: no dead ends and figures that match the targets — results reported after the halt,
retrying failed targets after an override, override requests withdrawn by the back-out."""

import pytest

from releasemgmt.core.exceptions import DomainConflict
from releases import selectors, services
from releases.choices import InstallationState as IS
from releases.choices import ReleaseState as S
from releases.models import FailureCondition, ReleaseTarget
from tests.releases.test_deployment import make_release, report

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
