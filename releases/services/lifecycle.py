"""Every release transition, and what happens around it, declared in one table (``TABLE``) and
taken by one service, ``release_transition``: one transaction, the row locked, the permission
(403), the reason (400), the state, the guard and the conditions (409) checked, the before-steps,
the transition applied, the timeline and the audit log written, the after-steps, the status
callbacks, and the system transition that follows at once, if any.

System paths that already hold the release's lock inside a larger unit of work (deployment
reports, the watchdog, a met failure condition) take a transition with ``take_transition``: the
same table and checks, without locking again.

The steps live in the modules of their domain (test scope in ``levels``, roll-out tasks in
``planning``, the verification engine, ``freezes``, the category ``policies`` — windows and four
eyes —, ``installation``, ``backout``, the post-implementation ``reviews``, status callbacks)
and are imported here by name. No step takes a transition itself: a step that calls for one says
so in the table (``then``). The paths that take transitions — deployment ``reports``, the
``failure_conditions`` and the watchdog, the ``overrides`` (the emergency install, continuing
despite a met condition) — import this module; none of them supplies a step, so no two modules
import each other."""

from collections.abc import Callable
from dataclasses import dataclass

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
from releases.services import (
    backout,
    freezes,
    installation,
    levels,
    planning,
    policies,
    reviews,
    verification,
)
from releases.webhooks import callbacks

# (release, by) -> what the guard would refuse now, in its words: read only, no side effect.
Problems = Callable[[Release, object], list[str]]
# (release, by) -> None: work on other rows, inside the transition's transaction.
Step = Callable[[Release, object], None]
# (release, *, by, reason, details) -> None: refuses (raises) before anything changes.
Guard = Callable[..., None]
# (release, *, by, reason, details) -> Release: takes the transition itself.
Handler = Callable[..., Release]
# (release) -> (transition, details) or None: the system transition that follows at once.
FollowUp = Callable[[Release], tuple[str, dict] | None]


@dataclass(frozen=True)
class Transition:
    """What taking one transition does besides moving the state (the model's ``@transition``
    says from where to where, with which permission and which conditions)."""

    # Only services take it: its permission is ``releases.system_transition``, which no role holds.
    system: bool = False
    # A person must say why (400 without).
    reason_required: bool = False
    # Refuses before anything changes, after the state is checked.
    guard: Guard | None = None
    # What the guard refuses now, read without side effects (what ``available_transitions`` says).
    guard_problems: Problems | None = None
    # Before the conditions are checked (they may read what these create).
    before: tuple[Step, ...] = ()
    # After the state moved, the timeline and the audit event are written.
    after: tuple[Step, ...] = ()
    # Takes the transition itself instead (e.g. ``verify`` runs the verification engine first).
    handler: Handler | None = None
    # The system transition that follows at once, if the release calls for it.
    then: FollowUp | None = None


def guards(*checks: Guard) -> Guard:
    """One guard that runs ``checks`` in order (the first to refuse answers)."""

    def check(release: Release, *, by, reason: str, details: dict) -> None:
        for one in checks:
            one(release, by=by, reason=reason, details=details)

    return check


def problems_of(*readers: Problems) -> Problems:
    """What the guards of ``guards(...)`` refuse now, read only: every reader's problems."""

    def problems(release: Release, by) -> list[str]:
        return [problem for read in readers for problem in read(release, by)]

    return problems


def _verify(release: Release, *, by, reason: str = "", details: dict | None = None) -> Release:
    """``verify``: roll-out tasks must be done (409 otherwise); then the engine runs. No failing
    check → ``verified``; any → ``verification_failed`` (taken by the system, naming who ran it),
    with the errors recorded either way. Runs inside the transition's transaction."""
    problems = condition_problems(release, "verify")
    if problems:
        raise DomainConflict(
            f"{release.number} cannot verify yet: " + " ".join(problems),
            extra={"state": release.state, "problems": problems},
        )
    run = verification.run_verification(release, by=by)
    figures = {"verification_run": run.pk, "checks": run.checks_total, "failed": run.checks_failed}
    if run.passed:
        return _apply(release, "verify", by=by, reason=reason, details=figures, guarded=True)
    requested_by = by.get_username() if by is not None else SYSTEM_ACTOR
    return _apply(
        release,
        "fail_verification",
        by=None,
        reason=f"{run.checks_failed} of {run.checks_total} checks failed (verification run by {requested_by}).",
        details=figures,
    )


def _review(release: Release, *, by, reason: str = "", details: dict | None = None) -> Release:
    """``review``: the post-implementation review needs its outcome (400 otherwise); what went
    well and badly and the follow-up actions are recorded with it (``ReleaseReview``, and in the
    timeline's and the audit event's details). Runs inside the transition's transaction."""
    details = dict(details or {})
    review = reviews.review_read(details.get("review"))
    details["review"] = review
    release = _apply(release, "review", by=by, reason=reason, details=details, guarded=True)
    reviews.review_record(release, by, review)
    return release


# Every transition, in the order of the state machine. "What happens on close?" — read its row.
TABLE: dict[str, Transition] = {
    "plan": Transition(),
    "replan": Transition(reason_required=True, before=(levels.preparations_reset,)),
    "build": Transition(),
    "start_tests": Transition(before=(levels.test_scope_create,)),
    "fail_tests": Transition(reason_required=True),
    "accept": Transition(),
    "plan_rollout": Transition(before=(planning.rollout_tasks_create,)),
    "verify": Transition(
        guard=policies.four_eyes("verify"),
        guard_problems=policies.four_eyes_problems("verify"),
        handler=_verify,
    ),
    "fail_verification": Transition(system=True),
    "distribute": Transition(
        guard=policies.inside_window("distribute"),
        guard_problems=policies.inside_window_problems("distribute"),
        after=(installation.distribution_start,),
    ),
    "complete_distribution": Transition(system=True),
    "install": Transition(
        guard=guards(freezes.install_freeze_check, policies.inside_window("install")),
        guard_problems=problems_of(
            freezes.install_freeze_problems, policies.inside_window_problems("install")
        ),
        after=(installation.installations_start,),
    ),
    "complete_installation": Transition(system=True),
    "require_backout": Transition(system=True),
    "approve_backout": Transition(
        after=(backout.backout_start, backout.overrides_withdraw),
        then=backout.backout_complete_at_once,
    ),
    "override_backout": Transition(
        reason_required=True,
        guard=backout.backout_override_confirmed_only,
        guard_problems=backout.backout_override_problems,
        after=(installation.installations_resume,),
    ),
    "complete_backout": Transition(system=True),
    "review": Transition(
        guard=policies.four_eyes("review"),
        guard_problems=policies.four_eyes_problems("review"),
        handler=_review,
    ),
    "close": Transition(after=(installation.release_record_in_cmdb,)),
    "cancel": Transition(reason_required=True),
}
# After every transition, once its own after-steps ran: status callbacks to Change Management
# (for the states that matter to it).
AFTER_EVERY = (callbacks.callbacks_on_transition,)

# Transitions that may be asked for by name (API and pages). System transitions are in the same
# list but need `releases.system_transition`, which no role holds, and are never offered to a
# person (not even a superuser): only services take them.
TRANSITIONS: tuple[str, ...] = tuple(TABLE)
REASON_REQUIRED = frozenset(name for name, row in TABLE.items() if row.reason_required)


def _meta(name: str):
    return getattr(Release, name)._django_fsm


def transition_permission(name: str) -> str:
    """The permission a transition needs (the same from every source state)."""
    return next(iter(_meta(name).transitions.values())).permission


def _sources(name: str) -> list[str]:
    return list(_meta(name).transitions)


def transitions_from(state: str) -> list[str]:
    return [name for name in TRANSITIONS if state in _sources(name)]


def available_transitions(release: Release, user) -> list[dict]:
    """What ``user`` can do now: each transition from the release's state that they hold the
    permission for — system transitions never, for a person — as ``{"name", "ready",
    "problems", "reason_required"}``. ``problems`` (empty when ready) are the sentences a 409
    would give: what its guard refuses and the unmet conditions. ``user=None`` is the system.
    Reads only."""
    names = transitions_from(release.state)
    if user is not None:
        names = [
            name
            for name in names
            if not TABLE[name].system and user.has_perm(transition_permission(name))
        ]
    items = []
    for name in names:
        problems = transition_problems(release, name, by=user)
        items.append(
            {
                "name": name,
                "ready": not problems,
                "problems": problems,
                "reason_required": TABLE[name].reason_required,
            }
        )
    return items


def transition_problems(release: Release, name: str, *, by=None) -> list[str]:
    """What stops ``name`` now for ``by``, read without side effects: what its guard refuses (where
    the table says so) and its unmet conditions, in the words of the refusal."""
    row = _row(name)
    problems = list(row.guard_problems(release, by)) if row.guard_problems is not None else []
    return problems + condition_problems(release, name)


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


def _row(name: str) -> Transition:
    if name not in TABLE:
        raise DomainNotFound(
            f"There is no transition named {name!r}. Transitions: {', '.join(TRANSITIONS)}."
        )
    return TABLE[name]


def _check_person(name: str, by, reason: str) -> None:
    """A person needs the transition's permission (403) and, where asked, a reason (400). The
    system (``by=None``) needs neither."""
    if by is None:
        return
    if not by.has_perm(transition_permission(name)):
        raise DomainPermissionDenied(
            f"You do not have the permission to {name.replace('_', ' ')} releases."
        )
    if _row(name).reason_required and not reason:
        raise DomainValidationError({"reason": f"Give a reason to {name.replace('_', ' ')}."})


def release_transition(
    *, release: Release | int, name: str, by=None, reason: str = "", details: dict | None = None
) -> Release:
    """Take transition ``name`` on the release, in its own transaction with the row locked.

    ``by=None`` is the system (watchdog, verification engine, deployment reports): it may take
    system transitions and needs no permission. Raises 404 for an unknown transition, 403 when
    ``by`` lacks its permission, 400 when a required reason is missing, 409 when the state does
    not allow it (with the allowed ones), its guard refuses or its conditions are not met (with
    what is missing) — and 409 when another request changed the release first."""
    _row(name)
    reason = (reason or "").strip()
    _check_person(name, by, reason)
    release_id = release.pk if isinstance(release, Release) else release
    try:
        with transaction.atomic():
            locked = lock_for(release_id, name, by)
            return take_transition(locked, name, by=by, reason=reason, details=details)
    except ConcurrentTransition:
        raise DomainConflict(
            "Someone else changed this release at the same moment; reload and try again."
        ) from None


def lock_for(release_id: int, name: str, by) -> Release:
    """The release row, locked, if ``name`` may start from its state (409 otherwise)."""
    release = Release.objects.select_for_update().filter(pk=release_id).first()
    if release is None:
        raise DomainNotFound("No such release.")
    _check_state(release, name, by)
    return release


def _check_state(release: Release, name: str, by) -> None:
    if release.state not in _sources(name):
        raise DomainConflict(
            f"{release.number} is {release.get_state_display().lower()}: it cannot {name.replace('_', ' ')} now.",
            extra={
                "state": release.state,
                "available_transitions": available_transitions(release, by),
            },
        )


def take_transition(
    release: Release, name: str, *, by=None, reason: str = "", details: dict | None = None
) -> Release:
    """Take ``name`` on a release the caller has locked in its transaction: the same checks and
    steps as ``release_transition`` (the person's permission and reason, the state, the guard,
    the conditions), the transition's handler if it has one."""
    row = _row(name)
    reason = (reason or "").strip()
    _check_person(name, by, reason)
    if row.handler is not None:
        _check_state(release, name, by)
        if row.guard is not None:
            row.guard(release, by=by, reason=reason, details=details or {})
        return row.handler(release, by=by, reason=reason, details=details)
    return _apply(release, name, by=by, reason=reason, details=details)


def _apply(
    release: Release,
    name: str,
    *,
    by,
    reason: str = "",
    details: dict | None = None,
    guarded: bool = False,
):
    """Apply ``name`` to the locked release as its row in ``TABLE`` says: the state, the guard
    (unless a handler ran it already: ``guarded``), the before-steps, the conditions (409 with
    what is missing), the transition, the timeline entry, the audit event, the after-steps, the
    callbacks, the follow-up."""
    row = TABLE[name]
    source = release.state
    _check_state(release, name, by)
    if row.guard is not None and not guarded:
        row.guard(release, by=by, reason=reason, details=details or {})
    for step in row.before:
        step(release, by)
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
    for step in row.after:
        step(release, by)
    for step in AFTER_EVERY:
        step(release, name, source, by)
    follow_up = row.then(release) if row.then is not None else None
    if follow_up is not None:
        then_name, then_details = follow_up
        _apply(release, then_name, by=None, details=then_details)
    return release
