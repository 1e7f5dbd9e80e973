"""What several page groups share: the release page (drawn again with a refusal or a failed
form by every action on it), the refusal box and the list pages' sizes."""

from django.http import Http404
from django.shortcuts import render

from releasemgmt.core.exceptions import DomainError, error_text
from releases import selectors, services
from releases.choices import ReleaseState, RolloutTaskStatus, TestResult
from releases.forms import EmergencyInstallForm, ReviewForm, SignOffForm
from releases.models import Release
from releases.services import policies
from releases.templatetags.releases_tags import transition_label
from releases.views import panels

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25

# The release page lists at most this many target CIs; the deployment table pages through all.
TARGETS_LISTED = 200
# Taken in the back-out decision panel, not among the release page's transition buttons.
DECIDED_IN_PANEL = frozenset({"approve_backout", "override_backout"})


def get_release(pk: int, *, with_targets: bool = True) -> Release:
    try:
        return selectors.release_detail(pk, with_targets=with_targets)
    except Release.DoesNotExist:
        raise Http404("No such release.") from None


def _transitions(release: Release, user, *, review_form=None) -> list[dict]:
    """What ``user`` can do now (``services.available_transitions``): each transition with
    whether it is ready and, when not, what stops it — shown before the click, the button
    disabled — whether it needs a reason, whether now is outside the plan's window (the dialog
    then asks for the confirmation the API asks for; a category that refuses it blocks it) and,
    for ``review``, the review's form. The back-out decision is not among them: it has its own
    panel (approve, or request an override that a second person confirms)."""
    rows = []
    for item in services.available_transitions(release, user):
        name = item["name"]
        if name in DECIDED_IN_PANEL:
            continue
        outside = policies.window_problem(release, name) if name in policies.WINDOW_OF else None
        refused = bool(outside) and policies.refuses_outside_window(release)
        # confirmed in the dialog, not a reason to disable the button
        asks = policies.confirmation_sentence(outside) if outside and not refused else None
        problems = [problem for problem in item["problems"] if problem != asks]
        rows.append(
            {
                **item,
                "ready": not problems,
                "problems": problems,
                "label": transition_label(name),
                "help": (getattr(Release, name).__doc__ or "").strip().split("\n")[0],
                "outside_window": outside,
                "outside_window_refused": refused,
                "review_form": (review_form or ReviewForm()) if name == "review" else None,
            }
        )
    return rows


def _can_edit(release: Release, user) -> bool:
    return release.is_editable and user.has_perm("releases.change_release")


def render_detail(
    request, pk: int, *, status: int = 200, error=None, sign_off_forms=None, decision_forms=None
):
    """The release page; ``error`` is a refused action (``{"title", "message", "problems"}``)
    shown at the top, ``sign_off_forms`` bound forms that failed, keyed by test item,
    ``decision_forms`` bound back-out/emergency/review forms that failed (``approve``,
    ``override``, ``emergency``, ``review``)."""
    release = get_release(pk, with_targets=False)  # a release may have 10,000 targets
    sign_off_forms = sign_off_forms or {}
    decision_forms = decision_forms or {}
    can_sign_off = release.state == ReleaseState.TESTING and request.user.has_perm(
        "releases.test_release"
    )
    # four eyes: the owner sees who must sign off instead of forms that would be refused
    sign_off_four_eyes = (
        policies.four_eyes_problem(release, request.user, doing=policies.SIGN_OFF_DOING)
        if can_sign_off
        else None
    )
    can_sign_off = can_sign_off and not sign_off_four_eyes
    tests = [
        {
            "item": item,
            "form": sign_off_forms.get(item.pk)
            or SignOffForm(prefix=f"test-{item.pk}", initial={"evidence": item.evidence}),
            "can_sign_off": can_sign_off and item.result != "waived",
        }
        for item in release.test_scope.all()
    ]
    install_freezes = panels.install_freezes(release)
    deployment = panels.deployment_card(request, release, request.GET)
    outlook = (
        selectors.installation_outlook(release, deployment["progress"]) if deployment else None
    )
    if release.state == ReleaseState.BACKOUT_REQUIRED:
        panels.attach_decision(release, decision_forms)
    context = {
        "release": release,
        "diff": selectors.baseline_diff(release),
        "transitions": _transitions(
            release, request.user, review_form=decision_forms.get("review")
        ),
        "tests_done": sum(
            item.result in (TestResult.PASSED, TestResult.WAIVED)
            for item in release.test_scope.all()
        ),
        "tasks_done": sum(
            task.status != RolloutTaskStatus.PENDING for task in release.rollout_tasks.all()
        ),
        "can_edit": _can_edit(release, request.user),
        "tests": tests,
        "sign_off_four_eyes": sign_off_four_eyes,
        "can_complete_tasks": release.state == ReleaseState.ROLLOUT_PLANNED
        and request.user.has_perm("releases.plan_rollout_release"),
        "error": error,
        "timeline": release.transitions.all(),
        "targets": release.targets.select_related("ci").order_by("ci__identifier")[:TARGETS_LISTED],
        "target_total": release.targets.count(),
        "deployment": deployment,
        "outlook": outlook,
        "retry_form": panels.retry_form(release, request.user) if outlook else None,
        "agents_waiting": panels.agents_waiting(release, deployment),
        "verification": panels.verification_summary(release),
        "install_freezes": install_freezes,
        "emergency_form": (
            decision_forms.get("emergency") or EmergencyInstallForm()
            if install_freezes
            and request.user.has_perm("releases.override_freeze")
            and request.user.has_perm(services.transition_permission("install"))
            else None
        ),
    }
    return render(request, "releases/release_detail.html", context, status=status)


def error_box(error: DomainError, title: str) -> dict:
    """A refusal as the pages show it. Unmet conditions are listed once (the service's sentence
    ends with them); an illegal state names what may be done instead."""
    message, problems = error_text(error), error.extra.get("problems", [])
    listed = " ".join(problems)
    if problems and message.endswith(listed):
        message = message[: -len(listed)].rstrip()
    available = [] if problems else error.extra.get("available_transitions", [])
    return {
        "title": title,
        "message": message,
        "problems": problems,
        "available": [transition_label(item["name"]) for item in available],
    }


def refused(request, pk: int, error: DomainError, title: str, **forms):
    """An action the services refused, shown on the release page with the error's status."""
    return render_detail(
        request,
        pk,
        status=error.status_code,
        error=error_box(error, title),
        decision_forms=forms or None,
    )
