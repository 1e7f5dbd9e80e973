"""Distribution, installation, failure conditions and the enforced back-out."""

import re
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cmdb.models import Discrepancy, InstalledSoftware
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainPermissionDenied,
    DomainValidationError,
)
from releases import services
from releases.choices import InstallationState as IS
from releases.choices import ReleaseState as S
from releases.models import (
    DeploymentReport,
    FailureCondition,
    FreezeWindow,
    Release,
    ReleaseItem,
    ReleaseTarget,
)
from releases.services import (
    agents,
    failure_conditions,
    installation,
    overrides,
    report_rows,
    reports,
)
from tests.concurrency import run_together
from tests.factories import (
    ConfigurationItemFactory,
    InstalledSoftwareFactory,
    ReleaseFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def make_release(state=S.INSTALLING, targets=10, threshold=20, **fields):
    now = timezone.now()
    release = ReleaseFactory(
        state=state,
        installation_start=fields.pop("installation_start", now - timedelta(minutes=5)),
        installation_end=fields.pop("installation_end", now + timedelta(hours=2)),
        distribution_start=now - timedelta(hours=1),
        distribution_end=now + timedelta(hours=1),
        with_plan=False,
        **fields,
    )
    old, new = SoftwareVersionFactory(version="1.0"), None
    new = SoftwareVersionFactory(product=old.product, version="2.0")
    ReleaseItem.objects.create(
        release=release,
        kind="software",
        software_version=new,
        replaces_version=old,
        restore_version=old,
    )
    cis = ConfigurationItemFactory.create_batch(targets)
    for ci in cis:
        InstalledSoftwareFactory(ci=ci, version=old)
    ReleaseTarget.objects.bulk_create([ReleaseTarget(release=release, ci=ci) for ci in cis])
    Release.objects.filter(pk=release.pk).update(count_targets=len(cis))
    release.count_targets = len(cis)
    FailureCondition.objects.create(release=release, kind="failure_rate_above", threshold=threshold)
    return release


def report(target, status, kind="installation", report_id=None):
    return reports.target_report(
        target_id=target.pk,
        kind=kind,
        status=status,
        report_id=report_id or f"{kind}-{target.pk}-{status}",
    )


@pytest.fixture
def manager(role_user):
    return role_user("release_manager")


def test_distribution_completes_when_every_target_has_it(manager):
    release = make_release(state=S.VERIFIED, targets=3)
    release = services.release_transition(release=release, name="distribute", by=manager)
    targets = list(release.targets.all())
    for target in targets[:2]:
        report(target, "succeeded", kind="distribution")
    # a repeated report has no second effect
    _, created = report(targets[0], "succeeded", kind="distribution")
    assert created is False
    release.refresh_from_db()
    assert (release.state, release.count_distributed) == (S.DISTRIBUTING, 2)
    report(targets[2], "succeeded", kind="distribution")
    release.refresh_from_db()
    assert release.state == S.DISTRIBUTED
    assert release.transitions.last().by_name == "system"


def test_install_schedules_waves_inside_the_window(manager):
    release = make_release(state=S.DISTRIBUTED, targets=5, wave_size=2, wave_interval_minutes=30)
    release = services.release_transition(release=release, name="install", by=manager)
    waves = sorted(release.targets.values_list("wave", "installation_state", "due_at"))
    assert [w for w, _, _ in waves] == [1, 1, 2, 2, 3]
    assert {state for _, state, _ in waves} == {IS.SCHEDULED}
    assert waves[2][2] - waves[0][2] == timedelta(minutes=30)


def test_freeze_window_blocks_installation_and_an_emergency_override_is_logged(manager):
    release = make_release(state=S.DISTRIBUTED, targets=2)
    FreezeWindow.objects.create(
        start=timezone.now() - timedelta(hours=1),
        end=timezone.now() + timedelta(days=1),
        reason="Year-end freeze",
    )
    installer = UserFactory()  # may install, may not override a freeze
    installer.user_permissions.add(Permission.objects.get(codename="deploy_release"))
    installer = type(installer).objects.get(pk=installer.pk)
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="install", by=installer)
    assert "Year-end freeze" in refused.value.message
    with pytest.raises(DomainConflict):  # without the override permission
        overrides.release_install_with_freeze_override(
            release=release, by=installer, reason="outage fix"
        )
    # release managers may install and override a freeze, with a reason
    with pytest.raises(DomainValidationError):
        overrides.release_install_with_freeze_override(release=release, by=manager, reason=" ")
    release = overrides.release_install_with_freeze_override(
        release=release, by=manager, reason="Payment outage: CHG0031999"
    )
    assert release.state == S.INSTALLING
    assert release.transitions.last().details == {"freeze_override": True}


def test_a_change_manager_who_may_not_install_cannot_install_through_the_freeze_override():
    # issue 11: the emergency install was a side door around the permission to install
    release = make_release(state=S.DISTRIBUTED, targets=2)
    FreezeWindow.objects.create(
        start=timezone.now() - timedelta(hours=1),
        end=timezone.now() + timedelta(days=1),
        reason="Year-end freeze",
    )
    change_manager = UserFactory(roles=["change_manager"])  # granted the override, not install
    change_manager.user_permissions.add(Permission.objects.get(codename="override_freeze"))
    change_manager = type(change_manager).objects.get(pk=change_manager.pk)
    with pytest.raises(DomainPermissionDenied):
        services.release_transition(release=release, name="install", by=change_manager)

    with pytest.raises(DomainPermissionDenied):
        overrides.release_install_with_freeze_override(
            release=release, by=change_manager, reason="Payment outage: CHG0031999"
        )

    release.refresh_from_db()
    assert release.state == S.DISTRIBUTED
    assert not release.transitions.exists()


def test_the_freeze_override_is_refused_when_no_freeze_applies():
    release = make_release(state=S.DISTRIBUTED, targets=2)
    FreezeWindow.objects.create(  # another environment's freeze: not this release's
        start=timezone.now() - timedelta(hours=1),
        end=timezone.now() + timedelta(days=1),
        reason="Lab rebuild",
        scope="environment",
        environment="test",
    )
    emergency = UserFactory(roles=["release_manager"])

    with pytest.raises(DomainConflict) as refused:
        overrides.release_install_with_freeze_override(
            release=release, by=emergency, reason="Payment outage: CHG0031999"
        )

    assert "No freeze window applies to the installation window" in refused.value.message
    release.refresh_from_db()
    assert release.state == S.DISTRIBUTED
    assert not release.transitions.exists()


def test_picker_releases_only_due_installations_outside_freezes(manager):
    release = make_release(state=S.DISTRIBUTED, targets=4, wave_size=2, wave_interval_minutes=60)
    services.release_transition(release=release, name="install", by=manager)
    assert installation.installations_dispatch_due() == 2
    assert installation.installations_dispatch_due() == 0  # nothing twice
    assert sorted(release.targets.values_list("installation_state", flat=True)) == [
        IS.RUNNING,
        IS.RUNNING,
        IS.SCHEDULED,
        IS.SCHEDULED,
    ]
    FreezeWindow.objects.create(
        start=timezone.now() - timedelta(minutes=1),
        end=timezone.now() + timedelta(days=1),
        reason="Freeze",
    )
    assert installation.installations_dispatch_due(now=timezone.now() + timedelta(hours=2)) == 0


def test_a_wave_waits_for_the_earlier_waves_results(manager):
    """Issue 12: every wave was released at its due time whether or not the earlier ones had
    reported, so a failure condition met in wave 1 had nothing left to halt."""
    # given: 6 targets in waves of 2, one a minute, and the agents not started
    release = make_release(
        state=S.DISTRIBUTED, targets=6, threshold=10, wave_size=2, wave_interval_minutes=1
    )
    services.release_transition(release=release, name="install", by=manager)
    later = timezone.now() + timedelta(minutes=30)  # every wave is due

    # when the picker runs again and again: only the first wave is released
    assert installation.installations_dispatch_due(now=later) == 2
    assert installation.installations_dispatch_due(now=later) == 0
    first = list(release.targets.filter(wave=1))
    assert {t.installation_state for t in first} == {IS.RUNNING}

    # when one of wave 1 reports, wave 2 still waits for the other
    report(first[0], "succeeded")
    assert installation.installations_dispatch_due(now=later) == 0
    # then wave 1's last result releases wave 2 — here a failure crossing the threshold halts
    # the release and stops waves 2 and 3 instead
    report(first[1], "failed")
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    assert release.targets.filter(installation_state=IS.HALTED).count() == 4
    assert installation.installations_dispatch_due(now=later) == 0


def test_the_next_wave_starts_once_the_earlier_one_has_reported(manager):
    release = make_release(
        state=S.DISTRIBUTED, targets=4, threshold=90, wave_size=2, wave_interval_minutes=1
    )
    services.release_transition(release=release, name="install", by=manager)
    later = timezone.now() + timedelta(minutes=30)
    assert installation.installations_dispatch_due(now=later) == 2
    for target in release.targets.filter(wave=1):
        report(target, "succeeded")
    assert installation.installations_dispatch_due(now=later) == 2
    assert set(release.targets.filter(wave=2).values_list("installation_state", flat=True)) == {
        IS.RUNNING
    }


def test_condition_mode_waits_for_few_logins(manager):
    release = make_release(
        state=S.DISTRIBUTED, targets=2, installation_mode="condition", login_threshold=0
    )
    release = services.release_transition(release=release, name="install", by=manager)
    busy, idle = [t.ci for t in release.targets.order_by("pk")]
    agents.agent_heartbeat(ci=busy, login_count=3)
    agents.agent_heartbeat(ci=idle, login_count=0)
    assert installation.installations_dispatch_due() == 1
    assert release.targets.get(ci=idle).installation_state == IS.RUNNING
    assert release.targets.get(ci=busy).installation_state == IS.WAITING


def test_crossing_the_threshold_requires_backout_and_halts_at_once(
    django_capture_on_commit_callbacks,
):
    # given: 10 targets, failure rate above 20%; ops have an email address
    UserFactory(roles=["ops"], email="ops@example.com")
    release = make_release(targets=10, threshold=20)
    targets = list(release.targets.order_by("pk"))
    ReleaseTarget.objects.filter(pk__in=[t.pk for t in targets[:5]]).update(
        installation_state=IS.RUNNING
    )
    ReleaseTarget.objects.filter(pk__in=[t.pk for t in targets[5:]]).update(
        installation_state=IS.SCHEDULED
    )

    # when: two failures (20%, not above) and a third (30%)
    report(targets[0], "failed")
    report(targets[1], "failed")
    release.refresh_from_db()
    assert release.state == S.INSTALLING
    with django_capture_on_commit_callbacks(execute=True):
        report(targets[2], "failed")

    # then
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    assert release.backout_condition == "failure rate 30.0% is above 20.00%"
    assert (
        release.backout_figures["installation_failed"] == 3
        and release.backout_figures["halted"] == 5
    )
    assert release.backout_deadline == release.backout_required_at + timedelta(
        minutes=release.backout_decision_minutes
    )
    assert release.targets.filter(installation_state=IS.HALTED).count() == 5
    assert mail.outbox and "Back-out required" in mail.outbox[0].subject


def test_reports_after_the_halt_are_recorded_not_acted_on():
    release = make_release(targets=4, threshold=10, state=S.INSTALLING)
    first, second, *_ = release.targets.order_by("pk")
    ReleaseTarget.objects.filter(release=release).update(installation_state=IS.RUNNING)
    report(first, "failed")
    with pytest.raises(DomainConflict) as refused:
        report(second, "succeeded")
    assert "recorded, not acted on" in refused.value.message
    stored = DeploymentReport.objects.get(target=second)
    assert stored.acted is False
    release.refresh_from_db()
    # the halted release decides nothing from it; the target shows its result (issue #12)
    assert release.state == S.BACKOUT_REQUIRED
    second.refresh_from_db()
    assert (second.installation_state, release.count_installed) == (IS.SUCCEEDED, 1)


def test_bad_reports_are_refused():
    release = make_release(targets=1)
    target = release.targets.get()
    with pytest.raises(DomainValidationError):
        reports.target_report(
            target_id=target.pk, kind="installation", status="maybe", report_id="x"
        )
    with pytest.raises(DomainValidationError):
        reports.target_report(
            target_id=target.pk, kind="installation", status="failed", report_id=""
        )


def test_installed_when_every_target_succeeded():
    release = make_release(targets=2, threshold=50)
    for target in release.targets.all():
        report(target, "succeeded")
    release.refresh_from_db()
    assert (release.state, release.count_installed) == (S.INSTALLED, 2)


@pytest.fixture
def waiting_release():
    release = make_release(targets=4, threshold=10)
    targets = list(release.targets.order_by("pk"))
    ReleaseTarget.objects.filter(pk__in=[t.pk for t in targets[:2]]).update(
        installation_state=IS.RUNNING
    )
    ReleaseTarget.objects.filter(pk__in=[t.pk for t in targets[2:]]).update(
        installation_state=IS.SCHEDULED
    )
    report(targets[0], "succeeded")
    report(targets[1], "failed")
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    return release


def test_override_needs_a_second_person(waiting_release, role_user):
    first, second = role_user("ops"), role_user("ops")
    with pytest.raises(DomainValidationError):
        overrides.backout_override_request(release=waiting_release, by=first, reason="ok")
    override = overrides.backout_override_request(
        release=waiting_release,
        by=first,
        reason="The failing host is a known-bad lab box; production is fine.",
    )
    with pytest.raises(DomainPermissionDenied):
        overrides.backout_override_confirm(override=override, by=first)
    with pytest.raises(DomainPermissionDenied):
        overrides.backout_override_confirm(override=override, by=role_user("release_manager"))
    release = overrides.backout_override_confirm(override=override, by=second)
    assert release.state == S.INSTALLING
    override.refresh_from_db()
    assert (override.status, override.confirmed_by) == ("confirmed", second)
    step = release.transitions.last()
    assert (step.name, step.by) == ("override_backout", second)
    assert first.username in step.reason


def test_a_backout_with_nothing_to_undo_is_complete_at_once(waiting_release, role_user):
    # given: no target had started installing
    waiting_release.targets.update(installation_state=IS.HALTED)

    release = services.release_transition(
        release=waiting_release, name="approve_backout", by=role_user("ops")
    )

    assert release.state == S.BACKED_OUT
    steps = list(release.transitions.order_by("id").values_list("name", "by_name", "details"))
    assert [name for name, _, _ in steps[-2:]] == ["approve_backout", "complete_backout"]
    assert steps[-1][1:] == ("system", {"targets": 0})


def test_deadline_passed_starts_the_backout_by_itself(waiting_release):
    later = waiting_release.backout_deadline + timedelta(seconds=1)
    assert failure_conditions.watchdog(now=later)["backout_started"] == 1
    waiting_release.refresh_from_db()
    assert waiting_release.state == S.BACKING_OUT
    assert waiting_release.backout_started_automatically
    assert waiting_release.transitions.last().by_name == "system"


def test_window_ended_with_targets_not_installed():
    release = make_release(
        targets=3, threshold=90, installation_end=timezone.now() - timedelta(minutes=1)
    )
    FailureCondition.objects.create(release=release, kind="window_ended_with_pending")
    assert failure_conditions.watchdog()["backout_required"] == 1
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    assert (
        "installation window ended with 3 of 3 targets not installed" in release.backout_condition
    )


def test_backout_runs_per_target_and_completes(waiting_release, role_user):
    ops = role_user("ops")
    release = services.release_transition(release=waiting_release, name="approve_backout", by=ops)
    assert release.state == S.BACKING_OUT
    backing = list(release.targets.filter(installation_state=IS.BACKING_OUT).order_by("pk"))
    assert len(backing) == 2  # the succeeded and the failed one; the halted never changed
    report(backing[0], "succeeded", kind="backout")
    report(backing[1], "failed", kind="backout")
    release.refresh_from_db()
    assert release.state == S.BACKED_OUT
    flagged = Discrepancy.objects.get(reference=release.number, ci=backing[1].ci)
    assert flagged.kind == "version_mismatch"
    release = services.release_transition(
        release=release, name="close", by=role_user("release_manager")
    )
    assert (release.state, release.outcome) == (S.CLOSED, "backed_out")


def test_close_updates_the_cmdb_in_one_go(manager):
    release = make_release(targets=2, threshold=50)
    for target in release.targets.all():
        report(target, "succeeded")
    release = services.release_transition(
        release=release, name="review", by=manager, details={"review": {"outcome": "successful"}}
    )
    release = services.release_transition(release=release, name="close", by=manager)
    new = release.items.get().software_version
    current = InstalledSoftware.objects.filter(
        ci__release_targets__release=release, removed_at__isnull=True
    )
    assert {row.version for row in current} == {new}
    assert set(current.values_list("source_reference", flat=True)) == {release.number}


def test_a_crash_while_dispatching_loses_nothing(manager, monkeypatch):
    release = make_release(state=S.DISTRIBUTED, targets=3)
    services.release_transition(release=release, name="install", by=manager)

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(installation, "freezes_at", crash)
    with pytest.raises(RuntimeError):
        installation.installations_dispatch_due()
    assert set(release.targets.values_list("installation_state", flat=True)) == {IS.SCHEDULED}
    monkeypatch.undo()
    assert installation.installations_dispatch_due() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_pickers_never_release_the_same_installation():
    release = make_release(state=S.DISTRIBUTED, targets=40)
    services.release_transition(
        release=release, name="install", by=UserFactory(roles=["release_manager"])
    )
    barrier = threading.Barrier(2)
    counts = []

    def pick():
        try:
            barrier.wait()
            counts.append(installation.installations_dispatch_due(limit=25))
        finally:
            connection.close()

    run_together(pick, pick)
    assert sum(counts) == 40
    assert set(release.targets.values_list("attempts", flat=True)) == {1}


def test_a_failed_installation_can_be_run_again(manager):
    release = make_release(targets=10, threshold=50)
    target = release.targets.first()
    ReleaseTarget.objects.filter(pk=target.pk).update(installation_state=IS.RUNNING)
    report(target, "failed")
    retried = installation.target_install_now(target=target, by=manager)
    assert (retried.installation_state, retried.attempts) == (IS.RUNNING, 1)
    release.refresh_from_db()
    assert release.count_install_failed == 0
    report(target, "succeeded", report_id="second-attempt")
    release.refresh_from_db()
    assert (release.count_installed, release.count_install_failed) == (1, 0)


def test_a_success_after_the_window_ended_is_evaluated_too():
    # given: the window has ended with targets not installed; the watchdog has not run yet
    release = make_release(
        targets=3, threshold=90, installation_end=timezone.now() - timedelta(minutes=1)
    )
    FailureCondition.objects.create(release=release, kind="window_ended_with_pending")
    first = release.targets.order_by("pk").first()
    ReleaseTarget.objects.filter(release=release).update(installation_state=IS.RUNNING)

    # when: a success arrives
    report(first, "succeeded")

    # then: the report's own evaluation catches the ended window
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    assert "2 of 3 targets not installed" in release.backout_condition


def _statements(captured) -> list[str]:
    """The statements a report ran, by their first words (transaction control left out: the
    test's own transaction turns the report's into savepoints; so is PostgreSQL's plan reuse)."""
    control = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK", "BEGIN", "COMMIT", "SET LOCAL")
    statements = []
    for query in captured:
        if query["sql"].startswith(control):
            continue
        if query["sql"].startswith("WITH"):  # its writes, in order
            writes = re.findall(r'(INSERT INTO|UPDATE) "(\w+)"', query["sql"])
            statements.append(
                "WITH " + ", ".join(f"{verb.split()[0]} {table}" for verb, table in writes)
            )
            continue
        words = " ".join(query["sql"].split()[:3])
        statements.append(words.split(" ")[0] + " " + words.split('"')[1])
    return statements


def test_a_report_costs_the_same_queries_whatever_the_number_of_targets():
    small, large = make_release(targets=3, threshold=50), make_release(targets=40, threshold=50)
    ReleaseTarget.objects.update(installation_state=IS.RUNNING)
    counts = {}
    for release in (small, large):
        success, failure = release.targets.order_by("pk")[:2]
        with CaptureQueriesContext(connection) as succeeded:
            report(success, "succeeded")
        with CaptureQueriesContext(connection) as failed:
            report(failure, "failed")
        counts[release.count_targets] = (len(succeeded), len(failed))
    assert counts[3] == counts[40]
    # lock the target, store the report (one statement: no savepoint around it), move the
    # target, move the counters — on PostgreSQL those three writes are one statement; a failure
    # also reads the declared conditions
    if connection.vendor == "postgresql":
        writes = [
            "WITH INSERT releases_deploymentreport, UPDATE releases_releasetarget,"
            " UPDATE releases_release"
        ]
        assert _statements(succeeded) == ["SELECT releases_releasetarget", *writes]
        assert _statements(failed) == [
            "SELECT releases_releasetarget",
            "SELECT releases_failurecondition",
            *writes,
        ]
    else:
        assert _statements(succeeded) == [
            "SELECT releases_releasetarget",
            "INSERT releases_deploymentreport",
            "UPDATE releases_releasetarget",
            "UPDATE releases_release",
        ]
        assert _statements(failed) == [
            "SELECT releases_releasetarget",
            "INSERT releases_deploymentreport",
            "UPDATE releases_releasetarget",
            "SELECT releases_failurecondition",
            "UPDATE releases_release",
        ]
    # one transaction, nothing nested in it; on PostgreSQL it reuses the statements' plans
    assert len(succeeded) == len(_statements(succeeded)) + 2 + (connection.vendor == "postgresql")
    assert any(q["sql"] == "SET LOCAL plan_cache_mode = auto" for q in succeeded) == (
        connection.vendor == "postgresql"
    )


def test_the_reports_locking_read_gives_what_the_orm_gives():
    # given: a target with its timestamps set (SQLite returns them as text: converted the same)
    release = make_release(targets=2, threshold=50)
    target = release.targets.order_by("pk").first()
    now = timezone.now()
    ReleaseTarget.objects.filter(pk=target.pk).update(
        installation_state=IS.RUNNING, due_at=now, dispatched_at=now, attempts=3, detail="x"
    )
    expected = ReleaseTarget.objects.select_related("release", "ci").get(pk=target.pk)

    # when
    with transaction.atomic():
        locked = report_rows.target_locked(target.pk)
        missing = report_rows.target_locked(0)

    # then: every field of the target, and what a report reads of its release and CI
    assert missing is None
    for field in ReleaseTarget._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(expected, field.attname), field.name
    for name in ("pk", "number", "state", "installation_end"):
        assert getattr(locked.release, name) == getattr(expected.release, name), name
    assert (locked.ci.pk, locked.ci.identifier) == (expected.ci.pk, expected.ci.identifier)
    assert not locked._state.adding and locked.release.get_deferred_fields()


def test_a_halt_racing_a_report_leaves_it_recorded_not_acted_on(monkeypatch):
    # given: a halt committed after the report read the release (without its lock) as installing
    release = make_release(targets=2, threshold=90)
    target = release.targets.order_by("pk").first()
    ReleaseTarget.objects.filter(release=release).update(installation_state=IS.RUNNING)
    Release.objects.filter(pk=release.pk).update(state=S.BACKOUT_REQUIRED)
    reads, acts_on = [], reports._acts_on

    def stale_first_read(release_seen, target_seen, kind):
        reads.append(release_seen.state)
        return len(reads) == 1 or acts_on(release_seen, target_seen, kind)

    monkeypatch.setattr(reports, "_acts_on", stale_first_read)

    # when / then: the counter update finds the release moved, the attempt is rolled back and
    # the careful path records the report without acting on it (the target shows its result,
    # counted once: issue #12)
    with pytest.raises(DomainConflict) as refused:
        report(target, "succeeded")
    assert len(reads) >= 2
    assert "recorded, not acted on" in refused.value.message
    release.refresh_from_db()
    assert (release.state, release.count_installed) == (S.BACKOUT_REQUIRED, 1)
    stored = DeploymentReport.objects.get(target=target)
    assert stored.acted is False
    target.refresh_from_db()
    assert target.installation_state == IS.SUCCEEDED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_count_exactly_and_halt_once():
    # given: 60 running targets, back out when more than 10 % failed (7 failures cross it)
    release = make_release(targets=60, threshold=10)
    ReleaseTarget.objects.filter(release=release).update(installation_state=IS.RUNNING)
    targets = list(release.targets.order_by("pk"))
    failing = {target.pk for target in targets[:7]}
    work = iter(targets)
    lock, refused = threading.Lock(), []
    barrier = threading.Barrier(6)

    def agent():
        try:
            barrier.wait()
            while True:
                with lock:
                    target = next(work, None)
                if target is None:
                    return
                status = "failed" if target.pk in failing else "succeeded"
                try:
                    report(target, status)
                    report(target, status)  # a repeat: no second effect
                except DomainConflict:
                    refused.append(target.pk)
        finally:
            connection.close()

    # when: six agents report at once
    run_together(*[agent] * 6)

    # then: the counters match the targets exactly — the reports acted on and those recorded
    # after the halt, which still show on their targets (issue #12) — and the release halted once
    release.refresh_from_db()
    acted = DeploymentReport.objects.filter(target__release=release, acted=True)
    succeeded = release.targets.filter(installation_state=IS.SUCCEEDED).count()
    assert release.count_installed == succeeded == 53
    assert release.count_install_failed == acted.filter(status="failed").count()
    assert acted.filter(status="succeeded").count() + len(refused) == 53
    assert DeploymentReport.objects.filter(target__release=release).count() == 60
    assert release.state == S.BACKOUT_REQUIRED
    assert release.transitions.filter(name="require_backout").count() == 1
    assert release.count_install_failed == 7  # the seventh failure is the one that halts
    assert not failing & set(refused)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_halt_never_deadlocks_with_a_report_in_flight(monkeypatch):
    # given: a deployment tool reports on a target still scheduled (it installs on its own
    # schedule) while an agent's failure crosses the threshold on another target
    release = make_release(targets=4, threshold=10)
    scheduled, failing, *others = release.targets.order_by("pk")
    ReleaseTarget.objects.filter(pk=scheduled.pk).update(installation_state=IS.SCHEDULED)
    ReleaseTarget.objects.exclude(pk=scheduled.pk).update(installation_state=IS.RUNNING)
    in_flight, halting = threading.Event(), threading.Event()
    # the statement that takes the release's lock (PostgreSQL: the report, the target's write
    # and the counters' move in one)
    write = report_rows.report_write
    outcomes = {}

    def report_write(*args, **kwargs):
        if threading.current_thread().name == "tool":
            # the tool's target is locked; now it waits for the release's lock
            in_flight.set()
            assert halting.wait(10)
            return write(*args, **kwargs)
        row = write(*args, **kwargs)  # the agent now holds the release lock
        halting.set()
        time.sleep(0.3)  # let the tool block on the release's lock, then halt
        return row

    monkeypatch.setattr(report_rows, "report_write", report_write)

    def run(name, target, status, wait=None):
        try:
            if wait is not None:
                assert wait.wait(10)
            report(target, status)
            outcomes[name] = "acted"
        except DomainConflict as refused:
            outcomes[name] = refused.message
        except Exception as error:  # a deadlock would surface here
            outcomes[name] = repr(error)
        finally:
            connection.close()

    def tool():
        run("tool", scheduled, "succeeded")

    def agent():
        run("agent", failing, "failed", wait=in_flight)

    started = time.monotonic()
    run_together(tool, agent, timeout=30)

    # then: the halt went through at once, the tool's report was recorded but not acted on, and
    # its target ended halted with the rest
    assert outcomes["agent"] == "acted"
    assert "recorded, not acted on" in outcomes["tool"]
    assert time.monotonic() - started < 5
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    scheduled.refresh_from_db()
    assert scheduled.installation_state == IS.HALTED
    assert DeploymentReport.objects.get(target=scheduled).acted is False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_late_report_never_deadlocks_with_the_back_out_approval(monkeypatch, role_user):
    # given: a release waiting for the back-out decision; one target's installation still runs
    release = make_release(targets=4, threshold=10)
    running, failing, *_ = release.targets.order_by("pk")
    ReleaseTarget.objects.filter(release=release).update(installation_state=IS.RUNNING)
    report(failing, "failed")
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    ops = role_user("ops")
    reporting = threading.Event()
    check = reports._check_reporter
    outcomes = {}

    def slow_check(target, **kwargs):
        check(target, **kwargs)
        reporting.set()
        time.sleep(0.3)  # the report holds its locks while ops approve

    monkeypatch.setattr(reports, "_check_reporter", slow_check)

    def agent():
        try:
            report(running, "succeeded")
            outcomes["agent"] = "acted"
        except DomainConflict as refused:
            outcomes["agent"] = refused.message
        except Exception as error:
            outcomes["agent"] = repr(error)
        finally:
            connection.close()

    def approve():
        try:
            assert reporting.wait(10)
            services.release_transition(release=release.pk, name="approve_backout", by=ops)
            outcomes["ops"] = "approved"
        except Exception as error:
            outcomes["ops"] = repr(error)
        finally:
            connection.close()

    # when: the late success report and the approval meet
    run_together(agent, approve)

    # then: both went through, one after the other
    assert outcomes["ops"] == "approved"
    assert "recorded, not acted on" in outcomes["agent"]
    release.refresh_from_db()
    assert release.state == S.BACKING_OUT
    running.refresh_from_db()
    assert running.installation_state == IS.BACKING_OUT
