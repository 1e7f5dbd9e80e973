"""The generated past (``generate_history`` and the demo's year): every row is what the services
would have written — counters, end times, outcomes and timelines agree, the back-out discipline
reads as designed — and the demo adds it once."""

from collections import Counter, defaultdict
from datetime import timedelta
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max
from django.utils import timezone

from cmdb.choices import ErrorSource
from cmdb.models import Discrepancy
from releases import demo_history
from releases.choices import InstallationState, Outcome, ReleaseState
from releases.demo import HISTORY_UNITS
from releases.models import (
    BackoutOverride,
    ChangeRequest,
    Release,
    ReleaseNumberSequence,
    ReleaseTarget,
    ReleaseTransition,
)
from releases.services import release_create

pytestmark = pytest.mark.django_db

IS = InstallationState
ENDING = {
    "review": Outcome.COMPLETED,
    "complete_backout": Outcome.BACKED_OUT,
    "cancel": Outcome.CANCELLED,
}
LEGAL = {
    (t.name, t.source, t.target)
    for t in Release._meta.get_field("state").get_all_transitions(Release)
}


def generate(**options):
    out = StringIO()
    defaults = {
        "releases": 300,
        "targets_per_release": "1-30",
        "errors": 200,
        "months": 12,
        "seed": 7,
        "endpoints": 120,
    }
    call_command("generate_history", **{**defaults, **options}, stdout=out)
    return out.getvalue()


def timelines():
    result = defaultdict(list)
    for row in ReleaseTransition.objects.order_by("release_id", "at", "id").values(
        "release_id", "name", "source", "target", "at", "by_name", "reason", "details"
    ):
        result[row["release_id"]].append(row)
    return result


def test_every_release_is_consistent_with_its_targets_and_timeline():
    # given
    generate()
    releases = list(Release.objects.all())
    paths = timelines()
    targets = defaultdict(list)
    for target in ReleaseTarget.objects.all():
        targets[target.release_id].append(target)
    now = timezone.now()

    assert len(releases) == 300
    for release in releases:
        path = paths[release.pk]
        # a legal path through the state machine, from requested to where the release is
        assert path[0]["source"] == ReleaseState.REQUESTED, release.number
        for before, after in pairwise(path):
            assert before["target"] == after["source"], release.number
            assert before["at"] < after["at"], release.number
        for step in path:
            assert (step["name"], step["source"], step["target"]) in LEGAL, (release.number, step)
        assert path[-1]["target"] == release.state
        assert release.state in (ReleaseState.CLOSED, ReleaseState.CANCELLED)
        assert release.state_changed_at == path[-1]["at"]
        assert release.created_at <= path[0]["at"] <= now
        assert path[-1]["at"] < now
        # the end: the transition that made it final, and the outcome it wrote
        ending = [step for step in path if step["name"] in ENDING]
        assert len(ending) == 1, release.number
        assert release.ended_at == ending[0]["at"]
        assert release.outcome == ENDING[ending[0]["name"]]
        # who acted: people for their transitions, "system" for the system's, reasons where needed
        for step in path:
            if step["name"] in (
                "complete_distribution",
                "complete_installation",
                "require_backout",
                "complete_backout",
                "fail_verification",
            ):
                assert step["by_name"] == "system"
            if step["name"] in ("replan", "fail_tests", "cancel", "override_backout"):
                assert step["reason"]
        # counters equal the targets by state
        rows = targets[release.pk]
        assert release.count_targets == len(rows) > 0
        assert release.count_distributed == sum(t.distribution_state == "delivered" for t in rows)
        assert release.count_distribution_failed == 0
        assert release.count_installed == sum(t.installed_at is not None for t in rows)
        assert release.count_install_failed == sum(
            t.installed_at is None and t.attempts > 0 and t.installation_state != IS.HALTED
            for t in rows
        )
        assert release.count_backed_out == sum(t.installation_state == IS.BACKED_OUT for t in rows)
        assert release.count_backout_failed == sum(
            t.installation_state == IS.BACKOUT_FAILED for t in rows
        )
        names = [step["name"] for step in path]
        if release.outcome == Outcome.COMPLETED:
            assert {t.installation_state for t in rows} == {IS.SUCCEEDED}
            complete = path[names.index("complete_installation")]
            assert release.installed_at == complete["at"]
            assert complete["details"] == {"installed": len(rows)}
            assert max(t.installed_at for t in rows) <= release.installed_at
            assert all(t.dispatched_at < t.installed_at for t in rows)
        if release.outcome == Outcome.CANCELLED:
            assert {t.installation_state for t in rows} == {IS.PENDING}
            assert release.count_distributed == 0
        if release.outcome == Outcome.BACKED_OUT:
            assert release.backout_required_at == path[names.index("require_backout")]["at"]
            assert release.backout_decided_at == path[names.index("approve_backout")]["at"]
            assert release.backout_deadline == release.backout_required_at + timedelta(
                minutes=release.backout_decision_minutes
            )
            assert release.backout_condition
            figures = release.backout_figures
            assert figures["targets"] == len(rows)
            assert figures["halted"] == sum(t.installation_state == IS.HALTED for t in rows)
            assert {t.installation_state for t in rows} <= {
                IS.BACKED_OUT,
                IS.BACKOUT_FAILED,
                IS.HALTED,
            }
        if "install" in names:
            start, end = release.installation_start, release.installation_end
            assert release.distribution_start < release.distribution_end <= start < end
            assert path[names.index("install")]["at"] >= start
    # most installations inside their window, but not all
    installed = ReleaseTarget.objects.filter(installed_at__isnull=False).select_related("release")
    on_time = sum(
        t.release.installation_start <= t.installed_at <= t.release.installation_end
        for t in installed
    )
    assert 0.9 < on_time / installed.count() < 1


def test_backouts_overrides_and_the_automatic_start_read_as_designed():
    # given
    generate()
    deployed = Release.objects.filter(outcome__in=[Outcome.COMPLETED, Outcome.BACKED_OUT])
    backed_out = deployed.filter(outcome=Outcome.BACKED_OUT)

    # then: a few per cent backed out, falling over the year; more releases later
    assert 0.02 <= backed_out.count() / deployed.count() <= 0.06
    cancelled = Release.objects.filter(outcome=Outcome.CANCELLED).count()
    assert 5 <= cancelled <= 25
    first = Release.objects.order_by("ended_at").first().ended_at
    span = (timezone.now() - first) / 3
    early, late = (
        Release.objects.filter(ended_at__lt=first + span),
        Release.objects.filter(ended_at__gte=timezone.now() - span),
    )
    assert late.count() > 1.2 * early.count()
    assert (
        early.filter(outcome=Outcome.BACKED_OUT).count() / early.count()
        > late.filter(outcome=Outcome.BACKED_OUT).count() / late.count()
    )

    # exactly one back-out started by itself, after its deadline, by the system
    automatic = Release.objects.get(backout_started_automatically=True)
    assert automatic.outcome == Outcome.BACKED_OUT
    assert automatic.backout_deadline < automatic.backout_decided_at
    approve = automatic.transitions.get(name="approve_backout")
    assert (approve.by_name, approve.at) == ("system", automatic.backout_decided_at)
    assert "deadline" in approve.reason
    for release in backed_out.exclude(pk=automatic.pk):
        approve = release.transitions.get(name="approve_backout")
        assert approve.by.groups.filter(name="ops").exists()
        assert release.backout_decided_at < release.backout_deadline

    # overrides: asked by one ops person, confirmed by another before the deadline; the release
    # went on installing and completed
    confirmed = BackoutOverride.objects.filter(status="confirmed").select_related("release")
    assert 3 <= confirmed.count() <= 8
    for override in confirmed:
        release = override.release
        assert override.confirmed_by_id != override.requested_by_id
        assert release.backout_required_at < override.requested_at < override.confirmed_at
        assert override.confirmed_at < release.backout_deadline
        step = release.transitions.get(name="override_backout")
        assert (step.by_id, step.at, step.details) == (
            override.confirmed_by_id,
            override.confirmed_at,
            {"override": override.pk},
        )
        assert override.requested_by.username in step.reason
        assert release.backout_decided_at == override.confirmed_at
        assert release.outcome == Outcome.COMPLETED
        assert not release.backout_started_automatically
    withdrawn = BackoutOverride.objects.filter(status="withdrawn")
    assert withdrawn.count() >= 2
    assert not withdrawn.filter(confirmed_by__isnull=False).exists()
    assert {o.requested_by.username for o in BackoutOverride.objects.all()} <= {"ops", "ops-2"}

    # changes: most releases implement one or more, approved before the installation
    linked = Release.objects.annotate(n=Count("change_requests")).filter(n__gt=0)
    assert linked.count() > 0.6 * Release.objects.count()
    assert (
        not Release.objects.filter(level="package")
        .annotate(n=Count("change_requests"))
        .filter(n__lt=2)
        .exists()
    )
    for release in linked.filter(outcome=Outcome.COMPLETED).prefetch_related("change_requests")[
        :50
    ]:
        for change in release.change_requests.all():
            assert change.approved_at < release.installed_at
            assert change.created_at < change.approved_at
            assert change.source_system in (demo_history.HISTORY_SOURCE, demo_history.JIRA_SOURCE)
    levels = Counter(Release.objects.values_list("level", flat=True))
    assert set(levels) == {"delta", "package", "full"}
    assert len(set(Release.objects.values_list("category__name", flat=True))) == 3


def test_errors_come_from_every_source_and_most_are_resolved():
    # given
    generate()
    errors = Discrepancy.objects.all()

    # then
    assert errors.count() == 200
    assert set(errors.values_list("source", flat=True)) == set(ErrorSource.values)
    assert set(errors.values_list("category", flat=True)) == {"cmdb", "licence"}
    resolved = errors.filter(resolved_at__isnull=False)
    assert 0.7 * 200 < resolved.count() < 200
    assert all(e.resolved_at > e.detected_at and e.resolution for e in resolved)
    assert all(e.detected_at < timezone.now() for e in errors)
    # the integrity check would close an open record it no longer finds: none of its are open
    assert not errors.filter(source=ErrorSource.INTEGRITY_CHECK, resolved_at__isnull=True).exists()
    # at most one open record per fingerprint
    open_ = errors.filter(resolved_at__isnull=True)
    assert open_.values("fingerprint").distinct().count() == open_.count()
    # verification errors name the release whose verification failed, found at that moment
    numbers = dict(Release.objects.values_list("number", "pk"))
    failed = {
        (t.release_id, t.at) for t in ReleaseTransition.objects.filter(name="fail_verification")
    }
    verification = errors.filter(source=ErrorSource.VERIFICATION)
    assert verification.count() >= 20
    for error in verification:
        assert (numbers[error.reference], error.detected_at) in failed


def test_numbers_follow_the_sequence_and_stay_behind_it(role_user):
    # given a release numbered already
    manager = role_user("release_manager")
    year = timezone.now().year
    existing = release_create(by=manager, title="Before the history", level="delta")

    # when
    generate(releases=60, errors=20)
    after = release_create(by=manager, title="After the history", level="delta")

    # then every number is unique, and the sequence is past each of them
    numbers = list(Release.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 62
    assert existing.number == f"REL-{year}-0001"
    for sequence in ReleaseNumberSequence.objects.all():
        used = [n for n in numbers if n.startswith(f"REL-{sequence.year}-")]
        assert sequence.last == max(int(n.rsplit("-", 1)[1]) for n in used)
    assert int(after.number.rsplit("-", 1)[1]) == ReleaseNumberSequence.objects.get(year=year).last


def test_a_second_run_adds_another_history_without_clashing():
    generate(releases=40, errors=10)
    generate(releases=40, errors=10)
    assert Release.objects.count() == 80
    assert ChangeRequest.objects.values("source_system", "external_id").distinct().count() == (
        ChangeRequest.objects.count()
    )
    assert Discrepancy.objects.count() == 20


def test_the_command_refuses_a_bad_target_range():
    with pytest.raises(CommandError, match="A-B"):
        generate(targets_per_release="many")
    with pytest.raises(CommandError, match="1 <= A <= B"):
        generate(targets_per_release="9-3")


def test_the_demo_adds_a_year_of_history_once():
    # given
    call_command("seed_demo", stdout=StringIO())
    demo_states = dict(
        Release.objects.filter(created_at__gte=timezone.now() - timedelta(hours=1)).values_list(
            "number", "state"
        )
    )
    counts = (
        Release.objects.count(),
        ReleaseTarget.objects.count(),
        ReleaseTransition.objects.count(),
        Discrepancy.objects.count(),
        ChangeRequest.objects.count(),
    )

    # when
    out = StringIO()
    call_command("seed_demo", stdout=out)

    # then: seven demo releases, untouched, and about 300 of the past year
    assert len(demo_states) == 7
    assert Release.objects.count() == counts[0] == 7 + 300
    assert counts == (
        Release.objects.count(),
        ReleaseTarget.objects.count(),
        ReleaseTransition.objects.count(),
        Discrepancy.objects.count(),
        ChangeRequest.objects.count(),
    )
    assert dict(Release.objects.filter(number__in=demo_states).values_list("number", "state")) == (
        demo_states
    )
    history = Release.objects.exclude(number__in=demo_states)
    assert history.filter(created_at__lt=timezone.now() - timedelta(days=300)).exists()
    assert history.filter(backout_started_automatically=True).count() == 1
    assert Discrepancy.objects.filter(resolved_at__isnull=False).count() > 150
    # the history goes to the demo's units and machines only
    assert set(history.values_list("release_unit__identifier", flat=True)) <= set(HISTORY_UNITS)
    last = ReleaseNumberSequence.objects.aggregate(Max("last"))["last__max"]
    assert last >= 7
