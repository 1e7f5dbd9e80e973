"""The whole state machine: every state and every transition, allowed or refused, and the
permission each needs. A path that opens silently fails here."""

import django_fsm
import pytest

from releasemgmt.core.exceptions import DomainConflict, DomainPermissionDenied
from releases import services
from releases.choices import ReleaseState as S
from releases.models import Release, ReleaseTransition
from releases.services import lifecycle
from tests.factories import ReleaseFactory, UserFactory

# The graph of DESIGN.md: transition -> the states it may start from -> where it leads.
GRAPH = {
    "plan": ({S.REQUESTED}, S.PLANNED),
    "replan": ({S.BUILT, S.TESTING, S.VERIFICATION_FAILED}, S.PLANNED),
    "build": ({S.PLANNED, S.VERIFICATION_FAILED}, S.BUILT),
    "start_tests": ({S.BUILT}, S.TESTING),
    "fail_tests": ({S.TESTING}, S.BUILT),
    "accept": ({S.TESTING}, S.ACCEPTED),
    "plan_rollout": ({S.ACCEPTED}, S.ROLLOUT_PLANNED),
    "verify": ({S.ROLLOUT_PLANNED}, S.VERIFIED),
    "fail_verification": ({S.ROLLOUT_PLANNED}, S.VERIFICATION_FAILED),
    "distribute": ({S.VERIFIED}, S.DISTRIBUTING),
    "complete_distribution": ({S.DISTRIBUTING}, S.DISTRIBUTED),
    "install": ({S.DISTRIBUTED}, S.INSTALLING),
    "complete_installation": ({S.INSTALLING}, S.INSTALLED),
    "require_backout": ({S.DISTRIBUTING, S.INSTALLING, S.INSTALLED}, S.BACKOUT_REQUIRED),
    "approve_backout": ({S.BACKOUT_REQUIRED}, S.BACKING_OUT),
    "override_backout": ({S.BACKOUT_REQUIRED}, S.INSTALLING),
    "complete_backout": ({S.BACKING_OUT}, S.BACKED_OUT),
    "review": ({S.INSTALLED}, S.REVIEWED),
    "close": ({S.REVIEWED, S.BACKED_OUT}, S.CLOSED),
    "cancel": (
        {
            S.REQUESTED,
            S.PLANNED,
            S.BUILT,
            S.TESTING,
            S.ACCEPTED,
            S.ROLLOUT_PLANNED,
            S.VERIFIED,
            S.VERIFICATION_FAILED,
        },
        S.CANCELLED,
    ),
}
CASES = [(state, name, state in GRAPH[name][0]) for state in S.values for name in GRAPH]


def test_the_graph_covers_every_transition():
    assert set(GRAPH) == set(services.TRANSITIONS)


def test_the_table_declares_every_transition_of_the_model_and_which_are_the_systems():
    on_the_model = {name for name, value in vars(Release).items() if hasattr(value, "_django_fsm")}
    assert set(lifecycle.TABLE) == on_the_model
    for name, row in lifecycle.TABLE.items():
        system = services.transition_permission(name) == "releases.system_transition"
        assert row.system == system, name
        assert not (row.system and row.reason_required), name


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "name", "allowed"), CASES, ids=[f"{s}-{n}" for s, n, _ in CASES])
def test_transition_table(state, name, allowed, monkeypatch):
    # given: a release in `state`; conditions are tested elsewhere, so they pass here
    release = ReleaseFactory(state=state, planned=True)  # windows, an item, a target
    release.targets.update(installation_state="succeeded")  # so a back-out has work to do
    monkeypatch.setattr(services.lifecycle, "condition_problems", lambda release, name: [])
    monkeypatch.setattr(django_fsm.FSMMeta, "conditions_met", lambda self, instance, state: True)

    # the review records its outcome (issue 12)
    details = {"review": {"outcome": "successful"}} if name == "review" else None

    if allowed:
        # when the system takes it (no permission check), it lands in the target state
        result = services.release_transition(
            release=release, name=name, by=None, reason="table", details=details
        )
        assert result.state == GRAPH[name][1]
        step = ReleaseTransition.objects.get(release=release)
        assert (step.source, step.target, step.name, step.by_name) == (
            state,
            GRAPH[name][1],
            name,
            "system",
        )
    else:
        with pytest.raises(DomainConflict) as refused:
            services.release_transition(
                release=release, name=name, by=None, reason="table", details=details
            )
        assert refused.value.extra["state"] == state
        offered = [t["name"] for t in refused.value.extra["available_transitions"]]
        assert offered == services.transitions_from(state)
        release.refresh_from_db()
        assert release.state == state
        assert not ReleaseTransition.objects.exists()


PERMISSIONS = {
    "release_manager": {
        "plan",
        "replan",
        "build",
        "start_tests",
        "fail_tests",
        "accept",
        "plan_rollout",
        "verify",
        "distribute",
        "install",
        "review",
        "close",
        "cancel",
    },
    "change_manager": {"cancel"},
    "ops": {"approve_backout", "override_backout"},
    "configuration_manager": {"verify"},
    "auditor": set(),
    "integration": set(),
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(PERMISSIONS))
def test_permission_matrix(role):
    user = UserFactory(roles=[role])
    for name in services.TRANSITIONS:
        may = user.has_perm(services.transition_permission(name))
        assert may == (name in PERMISSIONS[role]), f"{role} {'may' if may else 'may not'} {name}"


@pytest.mark.django_db
def test_a_person_without_the_permission_gets_403_and_nothing_changes():
    release = ReleaseFactory(state=S.BACKOUT_REQUIRED)
    with pytest.raises(DomainPermissionDenied):
        services.release_transition(
            release=release, name="approve_backout", by=UserFactory(roles=["release_manager"])
        )
    with pytest.raises(DomainPermissionDenied):
        services.release_transition(
            release=release, name="complete_backout", by=UserFactory(roles=["ops"])
        )
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
