"""The release category's policies that hold people to the plan:

- **windows**: distributing or installing outside the plan's window needs an explicit confirmation
  with a reason (audited), or is refused — as the category says (``outside_window``; a release
  without a category needs the confirmation);
- **four eyes**: in a category with ``four_eyes``, test sign-off, verification and review are
  someone else's than the release's owner (or, with no owner, its creator).

Guards of the lifecycle table (``inside_window``, ``four_eyes``) with what they refuse, read only
(``inside_window_problems``, ``four_eyes_problems``), and checks that the per-target and per-test
services call (``install_now_window_check``, ``four_eyes_check``). They hold people
only: the system (``by=None``) acts on their decisions. Take no transition."""

from datetime import UTC, datetime

from django.utils import timezone

from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.services import audit_record
from releases.choices import InstallationMode, OutsideWindowPolicy
from releases.models import Release

# The transitions held to a window, and which.
WINDOW_OF = {"distribute": "distribution", "install": "installation"}
CONFIRMATION = "confirm_outside_window"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _bounds(release: Release, window: str) -> tuple[datetime | None, datetime | None]:
    return getattr(release, f"{window}_start"), getattr(release, f"{window}_end")


def window_problem(release: Release, name: str, *, now: datetime | None = None) -> str | None:
    """Why taking ``name`` (``distribute``, ``install`` or ``install_now``) now falls outside the
    plan's window, in a sentence — or None when it falls inside (or the plan has no window: the
    plan cannot be approved without one).

    Distribution and a manual "install now" must happen inside their window. ``install`` is late
    once the installation window has ended; before it opens, it is early only in condition mode
    (a target installs as soon as its logins allow) — scheduled mode puts every due time inside
    the window and manual mode waits for "install now", so arming them early starts nothing."""
    window = WINDOW_OF.get(name, "installation")
    start, end = _bounds(release, window)
    if start is None or end is None:
        return None
    now = now or timezone.now()
    span = f"its {window} window ({_when(start)} – {_when(end)})"
    doing = {
        "distribute": f"Distributing {release.number}",
        "install": f"Installing {release.number}",
    }.get(name, f"Installing on a target of {release.number}")
    if now >= end:
        return f"{doing} now is outside {span}: it closed at {_when(end)}."
    early = name != "install" or release.installation_mode == InstallationMode.CONDITION
    if now < start and early:
        return f"{doing} now is outside {span}: it opens at {_when(start)}."
    return None


def refuses_outside_window(release: Release) -> bool:
    """Whether the release's category refuses work outside the plan's windows outright."""
    category = release.category
    return category is not None and category.outside_window == OutsideWindowPolicy.REFUSE


def refusal_sentence(release: Release, problem: str) -> str:
    """The 409 of work outside the window that the category refuses."""
    return (
        f"{problem} Releases of the category “{release.category.name}” never run outside their "
        "window: wait for it, or replan the window."
    )


def confirmation_sentence(problem: str) -> str:
    """The 409 of work outside the window asked for without the confirmation."""
    return (
        f"{problem} To go ahead anyway, confirm that it runs outside the window and give a "
        "reason (it is recorded)."
    )


def _require_confirmation(
    release: Release, problem: str, *, by, confirmed: bool, reason: str, name: str
) -> None:
    """Refuse (409), ask for the confirmation (409) or its reason (400), or audit it."""
    if refuses_outside_window(release):
        raise DomainConflict(
            refusal_sentence(release, problem),
            extra={"state": release.state, "outside_window": WINDOW_OF.get(name, "installation")},
        )
    if not confirmed:
        raise DomainConflict(
            confirmation_sentence(problem),
            extra={"state": release.state, "outside_window": WINDOW_OF.get(name, "installation")},
        )
    if not (reason or "").strip():
        raise DomainValidationError({"reason": "Say why it runs outside the plan's window."})
    window = WINDOW_OF.get(name, "installation")
    start, end = _bounds(release, window)
    audit_record(
        actor=by,
        action="release.outside_window",
        target=release,
        reason=reason,
        after={
            "transition": name,
            "window": window,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
    )


def inside_window(name: str):
    """The guard of ``name`` (``distribute``, ``install``): inside the plan's window, or confirmed
    outside it with a reason (``details["confirm_outside_window"]``, audited as
    ``release.outside_window``), unless the category refuses it (409 naming the window)."""

    def check(release: Release, *, by, reason: str, details: dict) -> None:
        if by is None:
            return
        problem = window_problem(release, name)
        if problem is not None:
            _require_confirmation(
                release,
                problem,
                by=by,
                confirmed=bool(details.get(CONFIRMATION)),
                reason=reason,
                name=name,
            )

    check.__doc__ = inside_window.__doc__
    return check


def inside_window_problems(name: str):
    """What the guard ``inside_window(name)`` answers a person asking for ``name`` plainly (no
    confirmation) now, read only: the category's refusal, or the request for a confirmation."""

    def problems(release: Release, by) -> list[str]:
        if by is None:
            return []
        problem = window_problem(release, name)
        if problem is None:
            return []
        if refuses_outside_window(release):
            return [refusal_sentence(release, problem)]
        return [confirmation_sentence(problem)]

    return problems


def install_now_window_check(
    release: Release, *, by, confirmed: bool, reason: str, now: datetime | None = None
) -> str | None:
    """ "Install now" on one target: inside the installation window, or confirmed with a reason
    (audited), unless the category refuses it. Returns which window was overstepped, if any."""
    problem = window_problem(release, "install_now", now=now)
    if problem is None:
        return None
    _require_confirmation(
        release, problem, by=by, confirmed=confirmed, reason=reason, name="install_now"
    )
    return "installation"


def owner_of(release: Release):
    return release.owner if release.owner_id is not None else release.created_by


def four_eyes_problem(release: Release, by, *, doing: str) -> str | None:
    """Why ``by`` may not do ``doing`` (e.g. "Verifying") on the release, in a sentence: its
    category needs four eyes and ``by`` owns it. None otherwise."""
    category = release.category
    if by is None or category is None or not category.four_eyes:
        return None
    owner = owner_of(release)
    if owner is None or owner.pk != by.pk:
        return None
    name = owner.get_full_name()
    name = f"{name} ({owner.get_username()})" if name else owner.get_username()
    return (
        f"{doing} {release.number} needs someone other than the owner, {name}: releases of the "
        f"category “{category.name}” are checked by four eyes. Ask a colleague who holds the "
        "permission."
    )


def four_eyes_check(release: Release, by, *, doing: str) -> None:
    """409 when the release's category needs four eyes and ``by`` owns the release: ``doing``
    (e.g. "Verifying") needs someone else."""
    problem = four_eyes_problem(release, by, doing=doing)
    if problem is not None:
        raise DomainConflict(problem, extra={"state": release.state, "four_eyes": True})


FOUR_EYES_DOING = {"verify": "Verifying", "review": "Reviewing"}
SIGN_OFF_DOING = "Signing off the tests of"


def four_eyes_problems(name: str):
    """What the guard ``four_eyes(name)`` refuses ``by`` now, read only."""

    def problems(release: Release, by) -> list[str]:
        problem = four_eyes_problem(release, by, doing=FOUR_EYES_DOING.get(name, name.capitalize()))
        return [problem] if problem else []

    return problems


def four_eyes(name: str):
    """The guard of ``name`` (``verify``, ``review``): in a four-eyes category, someone other than
    the release's owner takes it (409 naming the owner)."""

    def check(release: Release, *, by, reason: str, details: dict) -> None:
        four_eyes_check(release, by, doing=FOUR_EYES_DOING.get(name, name.capitalize()))

    check.__doc__ = four_eyes.__doc__
    return check
