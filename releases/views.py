"""The release manager's pages: the release list, the pipeline board, a release with its plan,
tests, roll-out tasks, state diagram and timeline, the create/edit/plan forms and the change
requests. Thin: forms parse, ``releases.services`` decide (the same services as the API), the
selectors read. A ``DomainError`` becomes a form error or a visible message with its status
(400/403/409), never a 500."""

import json
import math

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from cmdb.choices import SERVICE_KINDS
from cmdb.models import ConfigurationItem
from releasemgmt.core.drill import drill_filters
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainError,
    DomainValidationError,
    error_text,
)
from releasemgmt.core.presentation import paginate
from releasemgmt.core.services import record_delete
from releases import selectors, services
from releases.choices import (
    DistributionState,
    InstallationMode,
    InstallationState,
    OverrideStatus,
    ReleaseLevel,
    ReleaseState,
    RolloutTaskStatus,
    TestResult,
)
from releases.filtersets import BackoutOverrideFilterSet, ChangeRequestFilterSet, ReleaseFilterSet
from releases.forms import (
    ApproveBackoutForm,
    BackoutPlanForm,
    EmergencyInstallForm,
    FailureConditionForm,
    FreezeWindowForm,
    HardwareItemForm,
    InstallNowForm,
    OverrideRequestForm,
    ReleaseForm,
    ScheduleForm,
    SignOffForm,
    SoftwareItemForm,
    TargetFilterForm,
    TargetsForm,
    TransitionForm,
)
from releases.models import (
    BackoutOverride,
    ChangeRequest,
    FailureCondition,
    FreezeWindow,
    Release,
    ReleaseItem,
    ReleaseTarget,
    RolloutTask,
    TestScopeItem,
    VerificationCheck,
)
from releases.services import freezes, installation, overrides
from releases.templatetags.releases_tags import transition_label

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25


# The release list and the pipeline.


@permission_required("releases.view_release", raise_exception=True)
def release_list(request):
    """Releases with the API's filters (state, level, unit, change, owner, search), a count per
    state and pages. A fixed number of queries whatever the number of rows."""
    filterset = ReleaseFilterSet(request.GET or None, queryset=selectors.release_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    counting = ReleaseFilterSet(request.GET or None, queryset=Release.objects.all())
    counts = selectors.release_state_counts(counting.qs if counting.is_bound and valid else None)
    total = sum(counts.values())
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES, count=total)
    selected_states = set(request.GET.getlist("state"))
    context = {
        "filterset": filterset,
        **pages,
        "total": total,
        "state_counts": [
            (state.value, state.label, counts.get(state.value, 0))
            for state in ReleaseState
            if counts.get(state.value)
        ],
        "states": [
            (state.value, state.label, state.value in selected_states) for state in ReleaseState
        ],
        "selected_state_count": len(selected_states),
        "levels": ReleaseLevel.choices,
        "units": ConfigurationItem.objects.filter(kind__in=SERVICE_KINDS)
        .order_by("identifier")
        .values_list("id", "identifier"),
        "drill_filters": drill_filters(request, RELEASE_DRILL_FILTERS),
    }
    return render(request, "releases/release_list.html", context, status=200 if valid else 400)


# Filters the list has no control for; they arrive from the KPI page and the dashboards.
RELEASE_DRILL_FILTERS = (
    "outcome",
    "environment",
    "category",
    "ended_after",
    "ended_before",
    "decided_after",
    "decided_before",
    "backout_automatic",
)


@permission_required("releases.view_backoutoverride", raise_exception=True)
def override_list(request):
    """Back-out overrides: who asked to continue, why, and who confirmed — the list behind the
    KPI page's override counts. A fixed number of queries whatever the number of rows."""
    filterset = BackoutOverrideFilterSet(request.GET or None, queryset=selectors.override_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    total = queryset.count()
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES, count=total)
    context = {
        "filterset": filterset,
        **pages,
        "total": total,
        "statuses": OverrideStatus.choices,
        "drill_filters": drill_filters(request, OVERRIDE_DRILL_FILTERS),
    }
    return render(request, "releases/override_list.html", context, status=200 if valid else 400)


OVERRIDE_DRILL_FILTERS = (
    "environment",
    "level",
    "unit",
    "category",
    "requested_after",
    "requested_before",
    "confirmed_after",
    "confirmed_before",
)


@permission_required("releases.view_release", raise_exception=True)
def pipeline(request):
    """The board: one column per open state with its count and cards."""
    return render(request, "releases/pipeline.html", {"columns": selectors.pipeline()})


@permission_required("releases.view_release", raise_exception=True)
def pipeline_board(request):
    """The board alone, refreshed by htmx every 30 seconds."""
    return render(request, "releases/partials/_pipeline.html", {"columns": selectors.pipeline()})


# A release.

# The release page lists at most this many target CIs; the deployment table pages through all.
TARGETS_LISTED = 200


def _get_release(pk: int, *, with_targets: bool = True) -> Release:
    try:
        return selectors.release_detail(pk, with_targets=with_targets)
    except Release.DoesNotExist:
        raise Http404("No such release.") from None


def _transitions(release: Release, user, *, install_freezes=()) -> list[dict]:
    """The transitions ``user`` may take now, each with what would stop it (shown before the
    click) and whether it needs a reason. The back-out decision is not among them: it has its
    own panel (approve, or request an override that a second person confirms)."""
    rows = []
    for name in services.available_transitions(release, user):
        if name in DECIDED_IN_PANEL:
            continue
        problems = services.condition_problems(release, name)
        if name == "install" and install_freezes:
            problems = [*problems, _freeze_problem(release, install_freezes)]
        rows.append(
            {
                "name": name,
                "label": transition_label(name),
                "problems": problems,
                "reason_required": name in services.REASON_REQUIRED,
                "help": (getattr(Release, name).__doc__ or "").strip().split("\n")[0],
            }
        )
    return rows


def _can_edit(release: Release, user) -> bool:
    return release.is_editable and user.has_perm("releases.change_release")


def _render_detail(
    request, pk: int, *, status: int = 200, error=None, sign_off_forms=None, decision_forms=None
):
    """The release page; ``error`` is a refused action (``{"title", "message", "problems"}``)
    shown at the top, ``sign_off_forms`` bound forms that failed, keyed by test item,
    ``decision_forms`` bound back-out/emergency forms that failed (``approve``, ``override``,
    ``emergency``)."""
    release = _get_release(pk, with_targets=False)  # a release may have 10,000 targets
    sign_off_forms = sign_off_forms or {}
    decision_forms = decision_forms or {}
    can_sign_off = release.state == ReleaseState.TESTING and request.user.has_perm(
        "releases.test_release"
    )
    tests = [
        {
            "item": item,
            "form": sign_off_forms.get(item.pk)
            or SignOffForm(prefix=f"test-{item.pk}", initial={"evidence": item.evidence}),
            "can_sign_off": can_sign_off and item.result != "waived",
        }
        for item in release.test_scope.all()
    ]
    install_freezes = _install_freezes(release)
    if release.state == ReleaseState.BACKOUT_REQUIRED:
        _attach_decision(release, decision_forms)
    context = {
        "release": release,
        "diff": selectors.baseline_diff(release),
        "transitions": _transitions(release, request.user, install_freezes=install_freezes),
        "tests_done": sum(
            item.result in (TestResult.PASSED, TestResult.WAIVED)
            for item in release.test_scope.all()
        ),
        "tasks_done": sum(
            task.status != RolloutTaskStatus.PENDING for task in release.rollout_tasks.all()
        ),
        "can_edit": _can_edit(release, request.user),
        "tests": tests,
        "can_complete_tasks": release.state == ReleaseState.ROLLOUT_PLANNED
        and request.user.has_perm("releases.plan_rollout_release"),
        "error": error,
        "timeline": release.transitions.all(),
        "targets": release.targets.select_related("ci").order_by("ci__identifier")[:TARGETS_LISTED],
        "target_total": release.targets.count(),
        "deployment": _deployment(request, release, request.GET),
        "verification": _verification_summary(release),
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


def _error_box(error: DomainError, title: str) -> dict:
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
        "available": [transition_label(name) for name in available],
    }


def _refused(request, pk: int, error: DomainError, title: str, **forms):
    """An action the services refused, shown on the release page with the error's status."""
    return _render_detail(
        request,
        pk,
        status=error.status_code,
        error=_error_box(error, title),
        decision_forms=forms or None,
    )


@permission_required("releases.view_release", raise_exception=True)
def release_detail(request, pk):
    return _render_detail(request, pk)


@require_POST
@permission_required("releases.view_release", raise_exception=True)
def release_transition(request, pk, name):
    """Take transition ``name`` with the reason given; a refusal shows the service's message and
    what is missing, with its status (403, 400, 409)."""
    release = get_object_or_404(Release, pk=pk)
    if name == "override_backout":
        # Separation of duties: an override is requested by one person and confirmed by another.
        error = DomainConflict(
            "An override needs two people: request it with a written reason in the back-out "
            "panel; another person with the override permission confirms it."
        )
        return _refused(request, pk, error, "Override back-out refused")
    form = TransitionForm(request.POST)
    reason = form.data.get("reason", "") if not form.is_valid() else form.cleaned_data["reason"]
    try:
        release = services.release_transition(
            release=release, name=name, by=request.user, reason=reason
        )
    except DomainError as error:
        if error.status_code == 404:
            raise Http404(error_text(error)) from None
        return _refused(request, pk, error, f"{transition_label(name)} refused")
    messages.success(
        request,
        f"{release.number}: {transition_label(name).lower()} done — now {release.get_state_display().lower()}.",
    )
    return redirect("releases:release-detail", pk=release.pk)


@require_POST
@permission_required("releases.view_release", raise_exception=True)
def test_sign_off(request, pk, item_pk):
    """Sign off one test-scope item (passed/failed with evidence) while testing."""
    item = get_object_or_404(TestScopeItem, pk=item_pk, release_id=pk)
    form = SignOffForm(request.POST, prefix=f"test-{item.pk}")
    if form.is_valid():
        try:
            services.test_item_sign_off(
                item=item,
                result=form.cleaned_data["result"],
                evidence=form.cleaned_data["evidence"],
                by=request.user,
            )
        except DomainValidationError as error:
            form.add_service_errors(error.message)
        except DomainError as error:
            return _refused(request, pk, error, "Sign-off refused")
        else:
            messages.success(
                request, f"“{item.title}” signed off as {form.cleaned_data['result']}."
            )
            return redirect(f"{reverse('releases:release-detail', args=[pk])}#tests")
    return _render_detail(request, pk, status=400, sign_off_forms={item.pk: form})


@require_POST
@permission_required("releases.view_release", raise_exception=True)
def rollout_task_done(request, pk, task_pk):
    task = get_object_or_404(RolloutTask, pk=task_pk, release_id=pk)
    try:
        services.rollout_task_complete(task=task, by=request.user)
    except DomainError as error:
        return _refused(request, pk, error, "Roll-out task not completed")
    messages.success(request, f"{task} marked done.")
    return redirect(f"{reverse('releases:release-detail', args=[pk])}#rollout")


# Creating and editing.


@permission_required("releases.add_release", raise_exception=True)
def release_create(request):
    form = ReleaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            release = services.release_create(by=request.user, **form.service_fields())
        except DomainValidationError as error:
            form.add_service_errors(error.message)
        else:
            messages.success(request, f"{release.number} created. Now plan it.")
            return redirect("releases:release-plan", pk=release.pk)
    return render(
        request,
        "releases/release_form.html",
        {"form": form, "release": None},
        status=400 if form.errors else 200,
    )


def _frozen_message(release: Release) -> str:
    return f"The plan of {release.number} is frozen ({release.get_state_display().lower()}); replan it to change it."


def _frozen(request, release: Release):
    """An edit of a frozen plan. A GET goes back to the release saying why; a POST answers 409
    whatever it holds (the services refuse it too, under the row lock, should a transition win
    the race after this check)."""
    if request.method == "POST":
        error = DomainConflict(_frozen_message(release), extra={"state": release.state})
        return _refused(request, release.pk, error, "The plan cannot change")
    messages.warning(request, _frozen_message(release))
    return redirect("releases:release-detail", pk=release.pk)


@permission_required("releases.change_release", raise_exception=True)
def release_edit(request, pk):
    release = get_object_or_404(Release.objects.select_related("release_unit", "owner"), pk=pk)
    if not release.is_editable:
        return _frozen(request, release)
    form = ReleaseForm(request.POST or None, instance=release)
    if request.method == "POST" and form.is_valid():
        try:
            services.release_update_plan(release=release, by=request.user, **form.service_fields())
        except DomainValidationError as error:
            form.add_service_errors(error.message)
        except DomainError as error:
            return _refused(request, pk, error, "The plan cannot change")
        else:
            messages.success(request, f"{release.number} saved.")
            return redirect("releases:release-detail", pk=release.pk)
    release.refresh_from_db()  # the form changed the instance in memory
    return render(
        request,
        "releases/release_form.html",
        {"form": form, "release": release},
        status=400 if form.errors else 200,
    )


def _plan_forms(release: Release) -> dict:
    return {
        "schedule_form": ScheduleForm(instance=release),
        "software_form": SoftwareItemForm(release=release, prefix="sw"),
        "hardware_form": HardwareItemForm(release=release, prefix="hw"),
        "targets_form": TargetsForm(
            initial={"identifiers": "\n".join(t.ci.identifier for t in release.targets.all())}
        ),
        "backout_form": BackoutPlanForm(
            initial={"steps": "\n".join(s.description for s in release.backout_steps.all())}
        ),
        "condition_form": FailureConditionForm(prefix="fc"),
    }


def _render_plan(request, pk: int, *, status: int = 200, **bound):
    release = _get_release(pk)
    forms = _plan_forms(release)
    forms.update(bound)
    context = {
        "release": release,
        "diff": selectors.baseline_diff(release),
        "problems": release.plan_problems(),
        **forms,
    }
    return render(request, "releases/release_plan.html", context, status=status)


def _plan_redirect(pk: int, anchor: str):
    return redirect(f"{reverse('releases:release-plan', args=[pk])}#{anchor}")


@permission_required("releases.change_release", raise_exception=True)
def release_plan(request, pk):
    """The plan editor: schedule, contents, targets, back-out plan, failure conditions. Each
    section posts to its own URL and comes back here."""
    release = get_object_or_404(Release, pk=pk)
    if not release.is_editable:
        return _frozen(request, release)
    return _render_plan(request, pk)


def _plan_action(request, release, form_key, form, anchor, call, done):
    """Run ``call(form)`` (a plan service) if ``form`` is valid: success → back to the plan
    section with ``done``; a validation error → the plan page with the form's errors (400); a
    frozen plan or a refusal → the release page with the message (409/403)."""
    pk = release.pk
    if not release.is_editable:
        return _frozen(request, release)
    if form.is_valid():
        try:
            call(form)
        except DomainValidationError as error:
            form.add_service_errors(error.message)
        except DomainError as error:
            return _refused(request, pk, error, "The plan cannot change")
        else:
            messages.success(request, done)
            return _plan_redirect(pk, anchor)
    return _render_plan(request, pk, status=400, **{form_key: form})


@require_POST
@permission_required("releases.change_release", raise_exception=True)
def schedule_set(request, pk):
    release = get_object_or_404(Release, pk=pk)
    form = ScheduleForm(request.POST, instance=release)
    return _plan_action(
        request,
        release,
        "schedule_form",
        form,
        "schedule",
        lambda f: services.release_update_plan(
            release=release, by=request.user, **f.service_fields()
        ),
        "Schedule saved.",
    )


@require_POST
@permission_required("releases.change_release", raise_exception=True)
def item_add(request, pk):
    release = get_object_or_404(Release, pk=pk)
    if request.POST.get("kind") == "hardware":
        form = HardwareItemForm(request.POST, release=release, prefix="hw")
        key = "hardware_form"

        def call(f):
            return services.release_item_add(
                release=release,
                by=request.user,
                hardware_model=f.cleaned_data["hardware_model"],
                quantity=f.cleaned_data["quantity"],
                change_request=f.cleaned_data["change_request"],
            )
    else:
        form = SoftwareItemForm(request.POST, release=release, prefix="sw")
        key = "software_form"

        def call(f):
            return services.release_item_add(
                release=release,
                by=request.user,
                software_version=f.cleaned_data["software_version"],
                change_request=f.cleaned_data["change_request"],
            )

    return _plan_action(request, release, key, form, "contents", call, "Item added.")


@require_POST
@permission_required("releases.change_release", raise_exception=True)
def item_remove(request, pk, item_pk):
    item = get_object_or_404(
        ReleaseItem.objects.select_related("release"), pk=item_pk, release_id=pk
    )
    if not item.release.is_editable:
        return _frozen(request, item.release)
    label = str(item)
    try:
        services.release_item_remove(item=item, by=request.user)
    except DomainError as error:
        return _refused(request, pk, error, "The plan cannot change")
    messages.success(request, f"{label} removed.")
    return _plan_redirect(pk, "contents")


@require_POST
@permission_required("releases.change_release", raise_exception=True)
def targets_set(request, pk):
    release = get_object_or_404(Release, pk=pk)
    form = TargetsForm(request.POST)
    return _plan_action(
        request,
        release,
        "targets_form",
        form,
        "targets",
        lambda f: services.release_targets_set(
            release=release, cis=f.cleaned_data["identifiers"], by=request.user
        ),
        "Targets saved.",
    )


@require_POST
@permission_required("releases.change_release", raise_exception=True)
def backout_plan_set(request, pk):
    release = get_object_or_404(Release, pk=pk)
    form = BackoutPlanForm(request.POST)
    return _plan_action(
        request,
        release,
        "backout_form",
        form,
        "backout",
        lambda f: services.release_backout_plan_set(
            release=release, steps=f.step_list(), by=request.user
        ),
        "Back-out plan saved.",
    )


@require_POST
@permission_required("releases.change_release", raise_exception=True)
def failure_condition_add(request, pk):
    release = get_object_or_404(Release, pk=pk)
    form = FailureConditionForm(request.POST, prefix="fc")
    return _plan_action(
        request,
        release,
        "condition_form",
        form,
        "conditions",
        lambda f: services.release_failure_condition_add(
            release=release, by=request.user, **f.service_fields()
        ),
        "Failure condition added.",
    )


@require_POST
@permission_required("releases.change_release", raise_exception=True)
def failure_condition_remove(request, pk, condition_pk):
    condition = get_object_or_404(
        FailureCondition.objects.select_related("release"), pk=condition_pk, release_id=pk
    )
    if not condition.release.is_editable:
        return _frozen(request, condition.release)
    label = str(condition)
    try:
        services.release_failure_condition_remove(condition=condition, by=request.user)
    except DomainError as error:
        return _refused(request, pk, error, "The plan cannot change")
    messages.success(request, f"Failure condition “{label}” removed.")
    return _plan_redirect(pk, "conditions")


# Change requests.


@permission_required("releases.view_changerequest", raise_exception=True)
def change_list(request):
    filterset = ChangeRequestFilterSet(
        request.GET or None, queryset=selectors.change_request_list()
    )
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    return render(
        request,
        "releases/change_list.html",
        {"filterset": filterset, **paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE)},
        status=200 if valid else 400,
    )


@permission_required("releases.view_changerequest", raise_exception=True)
def change_detail(request, pk):
    change = get_object_or_404(ChangeRequest, pk=pk)
    releases = selectors.release_list().filter(change_requests=change).order_by("-created_at")
    context = {
        "change": change,
        "releases": releases,
        "raw_json": json.dumps(change.raw, indent=2, ensure_ascii=False, default=str),
    }
    return render(request, "releases/change_detail.html", context)


# Deployment: progress, the per-target table, install now, the emergency install.

S = ReleaseState
IS = InstallationState
# From verification on, the release page shows the deployment card.
DEPLOYMENT_STATES = frozenset(
    {
        S.VERIFIED,
        S.DISTRIBUTING,
        S.DISTRIBUTED,
        S.INSTALLING,
        S.INSTALLED,
        S.REVIEWED,
        S.CLOSED,
        S.BACKOUT_REQUIRED,
        S.BACKING_OUT,
        S.BACKED_OUT,
    }
)
# States in which the figures move by themselves (agents, the picker, the watchdog): refreshed.
LIVE_STATES = frozenset(
    {
        S.VERIFIED,
        S.DISTRIBUTING,
        S.DISTRIBUTED,
        S.INSTALLING,
        S.INSTALLED,
        S.BACKOUT_REQUIRED,
        S.BACKING_OUT,
    }
)
BACKOUT_STATES = frozenset({S.BACKOUT_REQUIRED, S.BACKING_OUT, S.BACKED_OUT})
DECIDED_IN_PANEL = frozenset({"approve_backout", "override_backout"})
INSTALLABLE_NOW = frozenset({IS.PENDING, IS.SCHEDULED, IS.WAITING})
TARGETS_PER_PAGE = 50
TARGET_QUERY_KEYS = ("state", "distribution", "page")


def _freeze_problem(release: Release, freezes) -> str:
    names = "; ".join(
        f"{w.reason} ({w.start:%Y-%m-%d %H:%M}–{w.end:%Y-%m-%d %H:%M} UTC)" for w in freezes
    )
    return f"The installation window overlaps a freeze: {names}."


def _install_freezes(release: Release) -> list[FreezeWindow]:
    """Freezes that would refuse ``install`` now (only asked while the release is distributed):
    while there are any, and only then, the emergency install is offered."""
    if release.state != S.DISTRIBUTED:
        return []
    return freezes.install_freezes(release)


def _target_query(params) -> str:
    """The table's filter and page as a query string, from known keys only."""
    query = QueryDict(mutable=True)
    for key in TARGET_QUERY_KEYS:
        value = params.get(key, "")
        if value:
            query[key] = value
    return query.urlencode()


def _progress_bars(release: Release, progress: dict) -> list[dict]:
    """One bar per stage with ``x of N``; the back-out rows once a back-out is in play."""
    total = progress["targets"]
    rows = [
        ("distributed", "Distributed", progress["distributed"], "ok"),
        ("installed", "Installed", progress["installed"], "ok"),
        ("failed", "Installation failed", progress["installation_failed"], "bad"),
        ("distribution_failed", "Distribution failed", progress["distribution_failed"], "bad"),
        ("running", "Running", progress["running"], "info"),
        ("scheduled", "Scheduled or waiting", progress["scheduled"], "neutral"),
        ("halted", "Halted", progress["halted"], "warn"),
        ("backing_out", "Backing out", progress["backing_out"], "warn"),
        ("backed_out", "Backed out", progress["backed_out"], "neutral"),
        ("backout_failed", "Back-out failed", progress["backout_failed"], "bad"),
    ]
    always = {"distributed", "installed", "failed"}
    if release.state in BACKOUT_STATES:
        always |= {"halted", "backing_out", "backed_out"}
    elif release.state == S.INSTALLING:
        always |= {"running", "scheduled"}
    return [
        {
            "key": key,
            "label": label,
            "n": n,
            "total": total,
            "percent": round(100 * n / total, 1) if total else 0,
            "tone": tone,
        }
        for key, label, n, tone in rows
        if key in always or n
    ]


def _plan_summary(release: Release, total: int) -> dict:
    waves = None
    if release.installation_mode == InstallationMode.SCHEDULED:
        size = release.wave_size or total or 1
        waves = math.ceil(total / size) if total else 0
    return {"waves": waves, "total": total}


def _deployment(request, release: Release, params) -> dict | None:
    """The deployment card: progress from the counters and one grouped query, and a page of the
    per-target table (CI joined). A fixed number of queries whatever the number of targets."""
    if release.state not in DEPLOYMENT_STATES:
        return None
    progress = selectors.release_progress(release)
    filters = TargetFilterForm(params)
    filters.is_valid()
    state = filters.cleaned_data.get("state", "")
    distribution = filters.cleaned_data.get("distribution", "")
    targets = (
        ReleaseTarget.objects.filter(release=release)
        .select_related("ci")
        .order_by("wave", "ci__identifier", "pk")
    )
    if state:
        targets = targets.filter(installation_state=state)
    if distribution:
        targets = targets.filter(distribution_state=distribution)
    paginator = Paginator(targets, TARGETS_PER_PAGE)
    if not distribution:  # counted already by the grouped query: no COUNT(*)
        counts = progress["by_installation_state"]
        paginator.__dict__["count"] = counts.get(state, 0) if state else progress["targets"]
    page = paginator.get_page(params.get("page"))
    user = request.user
    can_install_now = release.state == S.INSTALLING and user.has_perm("releases.deploy_release")
    freezes_now = freezes.freezes_at(timezone.now(), release=release) if can_install_now else []
    filter_query = _target_query({"state": state, "distribution": distribution})
    return {
        "progress": progress,
        "bars": _progress_bars(release, progress),
        "plan": _plan_summary(release, progress["targets"]),
        "filters": filters,
        "state_options": [
            (value, label, progress["by_installation_state"].get(value, 0))
            for value, label in InstallationState.choices
        ],
        "distribution_options": DistributionState.choices,
        "state": state,
        "distribution": distribution,
        "page": page,
        "query": _target_query({"state": state, "distribution": distribution, "page": page.number}),
        "filter_query": filter_query,
        "live": release.state in LIVE_STATES,
        "can_install_now": can_install_now,
        "installable": INSTALLABLE_NOW,
        "freezes_now": freezes_now,
        "can_override_freeze": bool(freezes_now) and user.has_perm("releases.override_freeze"),
    }


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def deployment_progress(request, pk):
    """The deployment card alone, refreshed by htmx every 5 seconds. When the release changed
    state since the page was drawn (``seen``), the whole page reloads: its banner and actions
    depend on the state."""
    release = get_object_or_404(Release, pk=pk)
    context = {"release": release, "deployment": _deployment(request, release, request.GET)}
    response = render(request, "releases/partials/_deployment.html", context)
    seen = request.GET.get("seen")
    if seen and seen != release.state:
        response["HX-Refresh"] = "true"
    return response


def _back_to_targets(pk: int, params) -> str:
    query = _target_query(params)
    return (
        f"{reverse('releases:release-detail', args=[pk])}{'?' + query if query else ''}#deployment"
    )


@require_POST
@permission_required("releases.deploy_release", raise_exception=True)
def target_install_now(request, pk, target_pk):
    """Release one target's installation to run now. During a freeze the service answers 409,
    unless the user may override freezes and gives a reason."""
    target = get_object_or_404(
        ReleaseTarget.objects.select_related("ci"), pk=target_pk, release_id=pk
    )
    form = InstallNowForm(request.POST)
    reason = form.cleaned_data["freeze_override_reason"] if form.is_valid() else ""
    try:
        installation.target_install_now(
            target=target, by=request.user, freeze_override_reason=reason
        )
    except DomainError as error:
        return _refused(request, pk, error, f"Install now on {target.ci.identifier} refused")
    messages.success(
        request,
        f"The installation on {target.ci.identifier} is released to run now: its agent picks it "
        "up on its next poll.",
    )
    return redirect(_back_to_targets(pk, request.POST))


@require_POST
@permission_required("releases.override_freeze", raise_exception=True)
def install_despite_freeze(request, pk):
    """``install`` during a freeze window: an emergency, with a reason (audited)."""
    release = get_object_or_404(Release, pk=pk)
    form = EmergencyInstallForm(request.POST)
    if form.is_valid():
        try:
            release = overrides.release_install_with_freeze_override(
                release=release, by=request.user, reason=form.cleaned_data["reason"]
            )
        except DomainValidationError as error:
            form.add_service_errors(error.message)
        except DomainError as error:
            return _refused(request, pk, error, "Emergency installation refused", emergency=form)
        else:
            messages.success(
                request,
                f"{release.number}: installing despite the freeze (emergency override recorded).",
            )
            return redirect("releases:release-detail", pk=release.pk)
    return _render_detail(request, pk, status=400, decision_forms={"emergency": form})


# The verification report.

CHECKS_PER_PAGE = 100


def _verification_summary(release: Release) -> dict | None:
    """The latest verification run with its failed checks (at most 10) for the release page."""
    run = release.verification_runs.select_related("by").first()
    if run is None:
        return None
    failed = list(
        run.checks.filter(ok=False).select_related("discrepancy").order_by("kind", "id")[:10]
    )
    return {"run": run, "failed": failed}


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def verification_report(request, pk):
    """Every check of a verification run (the latest by default; ``?run=`` an earlier one),
    failed first, with what was expected and found and the error it recorded; earlier runs
    listed. Paged: a release with 10,000 targets has tens of thousands of checks."""
    release = get_object_or_404(Release.objects.select_related("release_unit"), pk=pk)
    runs = list(release.verification_runs.select_related("by")[:50])
    run = runs[0] if runs else None
    wanted = request.GET.get("run", "")
    if wanted:
        run = next((r for r in runs if str(r.pk) == wanted), None)
        if run is None:
            raise Http404("No such verification run of this release.")
    context = {"release": release, "runs": runs, "run": run}
    if run is not None:
        result = request.GET.get("result", "")
        checks = VerificationCheck.objects.filter(run=run).select_related("discrepancy")
        if result == "failed":
            checks = checks.filter(ok=False)
        elif result == "ok":
            checks = checks.filter(ok=True)
        else:
            result = ""
        by_kind = {}
        for kind, ok, n in (
            VerificationCheck.objects.filter(run=run)
            .values_list("kind", "ok")
            .annotate(n=Count("id"))
            .values_list("kind", "ok", "n")
            .order_by()
        ):
            row = by_kind.setdefault(kind, {"kind": kind, "ok": 0, "failed": 0})
            row["ok" if ok else "failed"] += n
        total = {"": run.checks_total, "failed": run.checks_failed}
        pages = paginate(
            request,
            checks.order_by("ok", "kind", "id"),
            per_page=CHECKS_PER_PAGE,
            count=total.get(result),
        )
        context.update(
            {
                **pages,
                "result": result,
                "by_kind": sorted(by_kind.values(), key=lambda r: (-r["failed"], r["kind"])),
            }
        )
    return render(request, "releases/deployment/verification_report.html", context)


# The back-out decision: approve, request an override, confirm someone else's.


def _attach_decision(release: Release, forms: dict | None = None) -> None:
    """Give a release in the back-out family what its decision panel shows: the open override
    (if ``backout_queue`` did not prefetch it) and the approve/override forms (bound ones that
    failed, or fresh)."""
    forms = forms or {}
    if not hasattr(release, "open_overrides"):
        release.open_overrides = list(
            release.overrides.filter(status=OverrideStatus.REQUESTED).select_related("requested_by")
        )
    release.open_override = release.open_overrides[0] if release.open_overrides else None
    release.approve_form = forms.get("approve") or ApproveBackoutForm(
        prefix=f"approve-{release.pk}"
    )
    release.override_form = forms.get("override") or OverrideRequestForm(
        prefix=f"override-{release.pk}"
    )


def _decision_done(request, release_pk: int, message: str):
    messages.success(request, message)
    if request.POST.get("origin") == "queue":
        return redirect(f"{reverse('releases:backout-queue')}#release-{release_pk}")
    return redirect("releases:release-detail", pk=release_pk)


def _decision_refused(request, release_pk: int, error: DomainError | None, title: str, **forms):
    """Back to the page the decision came from (the queue or the release), with the service's
    message and the status it gave, the typed reason kept."""
    status = error.status_code if error is not None else 400
    box = _error_box(error, title) if error is not None else None
    if request.POST.get("origin") == "queue":
        return _render_queue(request, status=status, error=box, forms={release_pk: forms})
    return _render_detail(request, release_pk, status=status, error=box, decision_forms=forms)


@require_POST
@permission_required("releases.approve_backout", raise_exception=True)
def backout_approve(request, pk):
    """Approve the back-out (``approve_backout``): the targets are restored."""
    release = get_object_or_404(Release, pk=pk)
    form = ApproveBackoutForm(request.POST, prefix=f"approve-{pk}")
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        release = services.release_transition(
            release=release, name="approve_backout", by=request.user, reason=reason
        )
    except DomainError as error:
        if error.status_code == 404:
            raise Http404(error_text(error)) from None
        return _decision_refused(request, pk, error, "Back-out not approved", approve=form)
    return _decision_done(
        request,
        pk,
        f"{release.number}: back-out approved — now {release.get_state_display().lower()}.",
    )


@require_POST
@permission_required("releases.view_release", raise_exception=True)
def backout_override_request(request, pk):
    """Ask to continue despite the met condition, with a written reason; another person with
    the override permission confirms (the service checks who may ask: 403 otherwise)."""
    release = get_object_or_404(Release, pk=pk)
    form = OverrideRequestForm(request.POST, prefix=f"override-{pk}")
    if not form.is_valid():
        return _decision_refused(request, pk, None, "", override=form)
    try:
        overrides.backout_override_request(
            release=release, by=request.user, reason=form.cleaned_data["reason"]
        )
    except DomainValidationError as error:
        form.add_service_errors(error.message)
        return _decision_refused(request, pk, None, "", override=form)
    except DomainError as error:
        return _decision_refused(request, pk, error, "Override not requested", override=form)
    return _decision_done(
        request,
        pk,
        f"{release.number}: override requested. Another person with the override permission "
        "must confirm it; until then the release stays halted.",
    )


@require_POST
@permission_required("releases.override_backout", raise_exception=True)
def backout_override_confirm(request, pk, override_pk):
    """Confirm someone else's override: installation resumes, the override is counted. Nobody
    confirms their own (403)."""
    override = get_object_or_404(
        BackoutOverride.objects.select_related("release", "requested_by"),
        pk=override_pk,
        release_id=pk,
    )
    try:
        release = overrides.backout_override_confirm(override=override, by=request.user)
    except DomainError as error:
        return _decision_refused(request, pk, error, "Override not confirmed")
    return _decision_done(
        request,
        pk,
        f"{release.number}: override confirmed — {release.get_state_display().lower()} again "
        f"(requested by {override.requested_by.get_username()}).",
    )


# The back-out queue.


def _backout_queue() -> tuple[list[Release], list[Release]]:
    """Releases waiting for a decision and those backing out, each with its progress."""
    releases = selectors.backout_queue_with_progress()
    waiting = [r for r in releases if r.state == S.BACKOUT_REQUIRED]
    backing_out = [r for r in releases if r.state == S.BACKING_OUT]
    return waiting, backing_out


def _render_queue(request, *, status: int = 200, error=None, forms=None, partial=False):
    waiting, backing_out = _backout_queue()
    forms = forms or {}
    for release in waiting:
        _attach_decision(release, forms.get(release.pk))
    context = {"waiting": waiting, "backing_out": backing_out, "error": error}
    template = (
        "releases/partials/_backout_queue.html"
        if partial
        else "releases/deployment/backout_queue.html"
    )
    return render(request, template, context, status=status)


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def backout_queue(request):
    """Ops' dashboard: every release waiting for a back-out decision (soonest deadline first)
    with the condition met, the figures, its progress and a countdown; and those backing out."""
    return _render_queue(request)


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def backout_queue_list(request):
    """The queue alone, refreshed by htmx every 5 seconds (paused while a reason is typed)."""
    return _render_queue(request, partial=True)


@login_not_required  # anonymous callers get 403, not the login page swapped into the top bar
@never_cache
@require_GET
def backout_badge(request):
    """The top bar's back-out badge, polled by htmx on every page of those who may approve
    back-outs: how many releases wait for a decision and the soonest deadline (nothing when
    none waits). 403 for everyone else."""
    if not request.user.has_perm("releases.approve_backout"):
        raise PermissionDenied
    response = render(
        request,
        "releases/partials/_backout_badge.html",
        {"backout_waiting": selectors.backout_waiting()},
    )
    # A poll is not activity: it must not keep an idle session alive. Without a session on the
    # request, SessionMiddleware neither saves it nor renews the cookie.
    del request.session
    return response


# Freeze windows.

PAST_FREEZES_SHOWN = 50


def _render_freezes(request, *, form=None, status: int = 200):
    now = timezone.now()
    windows = FreezeWindow.objects.select_related("release_unit", "created_by")
    coming = list(windows.filter(end__gt=now).order_by("start", "pk"))
    for window in coming:
        window.is_current = window.start <= now
    past = windows.filter(end__lte=now)
    context = {
        "current": [w for w in coming if w.is_current],
        "upcoming": [w for w in coming if not w.is_current],
        "past": list(past.order_by("-end", "-pk")[:PAST_FREEZES_SHOWN]),
        "past_count": past.count(),
        "past_shown": PAST_FREEZES_SHOWN,
        "form": form
        if form is not None
        else (FreezeWindowForm() if request.user.has_perm("releases.add_freezewindow") else None),
    }
    return render(request, "releases/deployment/freeze_windows.html", context, status=status)


@require_GET
@permission_required("releases.view_freezewindow", raise_exception=True)
def freeze_window_list(request):
    """Freeze windows in force now (highlighted), coming, and past (collapsed); the form to
    declare one for those allowed."""
    return _render_freezes(request)


@require_POST
@permission_required("releases.add_freezewindow", raise_exception=True)
def freeze_window_create(request):
    form = FreezeWindowForm(request.POST)
    if form.is_valid():
        try:
            window = freezes.freeze_window_create(by=request.user, **form.service_fields())
        except DomainValidationError as error:
            form.add_service_errors(error.message)
        except DomainError as error:
            form.add_error(None, error_text(error))
            return _render_freezes(request, form=form, status=error.status_code)
        else:
            messages.success(request, f"Freeze window declared: {window.reason}.")
            return redirect(f"{reverse('releases:freeze-window-list')}#freeze-{window.pk}")
    return _render_freezes(request, form=form, status=400)


@require_POST
@permission_required("releases.delete_freezewindow", raise_exception=True)
def freeze_window_delete(request, pk):
    window = get_object_or_404(FreezeWindow, pk=pk)
    reason = window.reason
    with transaction.atomic():
        record_delete(instance=window, actor=request.user)
    messages.success(request, f"Freeze window “{reason}” deleted.")
    return redirect("releases:freeze-window-list")
