"""Every release transition goes through ``release_transition``: one transaction, the row locked,
the permission (403) and the state and conditions (409) checked, the transition applied, the
timeline and the audit log written, follow-up work enqueued after commit."""

from collections.abc import Callable

from django.db import transaction
from django_fsm import ConcurrentTransition

from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainNotFound,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.services import SYSTEM_ACTOR, audit_record
from releases.models import Release, ReleaseTransition

# Transitions a person may ask for by name (API and pages). System transitions are in the same
# table but need `releases.system_transition`, which no role holds: only services take them.
TRANSITIONS: tuple[str, ...] = (
    "plan",
    "replan",
    "build",
    "start_tests",
    "fail_tests",
    "accept",
    "plan_rollout",
    "verify",
    "fail_verification",
    "distribute",
    "complete_distribution",
    "install",
    "complete_installation",
    "require_backout",
    "approve_backout",
    "override_backout",
    "complete_backout",
    "review",
    "close",
    "cancel",
)
REASON_REQUIRED = frozenset({"replan", "fail_tests", "cancel", "override_backout"})

# Work done on other rows around a transition, inside the same transaction: name -> callable(release, by).
_BEFORE: dict[str, Callable] = {}
_AFTER: dict[str, Callable] = {}
# Called after every transition: callable(release, name, source, by) — e.g. status callbacks.
_ON_ANY: list[Callable] = []
# Transitions taken by a handler instead (it calls ``apply_transition`` itself):
# name -> callable(locked_release, by=, reason=, details=).
_HANDLERS: dict[str, Callable] = {}


def before(name: str):
    def register(func):
        _BEFORE[name] = func
        return func

    return register


def handler(name: str):
    def register(func):
        _HANDLERS[name] = func
        return func

    return register


def on_any_transition(func):
    _ON_ANY.append(func)
    return func


def after(name: str):
    def register(func):
        _AFTER[name] = func
        return func

    return register


def _meta(name: str):
    return getattr(Release, name)._django_fsm


def transition_permission(name: str) -> str:
    """The permission a transition needs (the same from every source state)."""
    return next(iter(_meta(name).transitions.values())).permission


def _sources(name: str) -> list[str]:
    return list(_meta(name).transitions)


def transitions_from(state: str) -> list[str]:
    return [name for name in TRANSITIONS if state in _sources(name)]


def available_transitions(release: Release, user) -> list[str]:
    """Transitions from the release's state that ``user`` holds the permission for (conditions
    not checked: the buttons show, and a refusal says what is missing)."""
    if user is None:
        return transitions_from(release.state)
    return [
        name
        for name in transitions_from(release.state)
        if user.has_perm(transition_permission(name))
    ]


def condition_problems(release: Release, name: str) -> list[str]:
    """What stops ``name`` now, in words a person can act on."""
    checks = {
        "plan": release.plan_problems,
        "build": release.build_problems,
        "accept": release.test_problems,
        "verify": release.rollout_problems,
    }
    problems = checks[name]() if name in checks else []
    if name == "accept" and not release.test_scope.exists():
        problems.append("The test scope is empty: start the tests first.")
    return problems


def release_transition(
    *, release: Release | int, name: str, by=None, reason: str = "", details: dict | None = None
) -> Release:
    """Take transition ``name`` on the release.

    ``by=None`` is the system (watchdog, verification engine, deployment reports): it may take
    system transitions and needs no permission. Raises 404 for an unknown transition, 403 when
    ``by`` lacks its permission, 400 when a required reason is missing, 409 when the state does
    not allow it (with the allowed ones) or its conditions are not met (with what is missing) —
    and 409 when another request changed the release first. A transition with a handler (e.g.
    ``verify``, which runs the verification engine) is taken by its handler."""
    if name not in TRANSITIONS:
        raise DomainNotFound(
            f"There is no transition named {name!r}. Transitions: {', '.join(TRANSITIONS)}."
        )
    if by is not None and not by.has_perm(transition_permission(name)):
        raise DomainPermissionDenied(
            f"You do not have the permission to {name.replace('_', ' ')} releases."
        )
    reason = (reason or "").strip()
    if by is not None and name in REASON_REQUIRED and not reason:
        raise DomainValidationError({"reason": f"Give a reason to {name.replace('_', ' ')}."})
    release_id = release.pk if isinstance(release, Release) else release
    try:
        with transaction.atomic():
            release = lock_for(release_id, name, by)
            handler = _HANDLERS.get(name)
            if handler is not None:
                return handler(release, by=by, reason=reason, details=details)
            return apply_transition(release, name, by=by, reason=reason, details=details)
    except ConcurrentTransition:
        raise DomainConflict(
            "Someone else changed this release at the same moment; reload and try again."
        ) from None


def lock_for(release_id: int, name: str, by) -> Release:
    """The release row, locked, if ``name`` may start from its state (409 otherwise)."""
    release = Release.objects.select_for_update().filter(pk=release_id).first()
    if release is None:
        raise DomainNotFound("No such release.")
    if release.state not in _sources(name):
        raise DomainConflict(
            f"{release.number} is {release.get_state_display().lower()}: it cannot {name.replace('_', ' ')} now.",
            extra={
                "state": release.state,
                "available_transitions": available_transitions(release, by),
            },
        )
    return release


def apply_transition(
    release: Release, name: str, *, by, reason: str = "", details: dict | None = None
) -> Release:
    """Apply ``name`` to a release already locked by the caller: before-hooks, conditions (409
    with what is missing), the transition, the timeline entry, the audit event, after-hooks."""
    source = release.state
    if source not in _sources(name):
        raise DomainConflict(
            f"{release.number} is {release.get_state_display().lower()}: it cannot {name.replace('_', ' ')} now.",
            extra={"state": source, "available_transitions": available_transitions(release, by)},
        )
    if name in _BEFORE:
        _BEFORE[name](release, by)
    problems = condition_problems(release, name)
    if problems:
        raise DomainConflict(
            f"{release.number} cannot {name.replace('_', ' ')} yet: " + " ".join(problems),
            extra={
                "state": source,
                "problems": problems,
                "available_transitions": available_transitions(release, by),
            },
        )
    getattr(release, name)()
    release.save()
    ReleaseTransition.objects.create(
        release=release,
        name=name,
        source=source,
        target=release.state,
        by=by,
        by_name=by.get_username() if by is not None else SYSTEM_ACTOR,
        reason=reason,
        details=details or {},
    )
    audit_record(
        actor=by,
        action=f"release.{name}",
        target=release,
        before={"state": source},
        after={"state": release.state, **(details or {})},
        reason=reason,
    )
    if name in _AFTER:
        _AFTER[name](release, by)
    for hook in _ON_ANY:
        hook(release, name, source, by)
    return release
