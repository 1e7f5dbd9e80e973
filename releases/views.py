"""The release manager's pages: the release list, the pipeline board, a release with its plan,
tests, roll-out tasks, state diagram and timeline, the create/edit/plan forms and the change
requests. Thin: forms parse, ``releases.services`` decide (the same services as the API), the
selectors read. A ``DomainError`` becomes a form error or a visible message with its status
(400/403/409), never a 500."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cmdb.choices import SERVICE_KINDS
from cmdb.models import ConfigurationItem
from releasemgmt.core.exceptions import DomainConflict, DomainError, DomainValidationError
from releases import selectors, services
from releases.choices import ReleaseLevel, ReleaseState
from releases.filtersets import ChangeRequestFilterSet, ReleaseFilterSet
from releases.forms import (
    BackoutPlanForm,
    FailureConditionForm,
    HardwareItemForm,
    ReleaseForm,
    ScheduleForm,
    SignOffForm,
    SoftwareItemForm,
    TargetsForm,
    TransitionForm,
)
from releases.models import (
    ChangeRequest,
    FailureCondition,
    Release,
    ReleaseItem,
    RolloutTask,
    TestScopeItem,
)
from releases.templatetags.releases_tags import STATE_FAMILIES, transition_label

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25


def _text(error: DomainError) -> str:
    """The error as one sentence (a ``{field: message}`` dict flattened)."""

    def flatten(value):
        if isinstance(value, dict):
            return [text for inner in value.values() for text in flatten(inner)]
        return [str(value)]

    return " ".join(flatten(error.message))


def _paginate(request, queryset, *, count: int):
    try:
        size = int(request.GET.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    if size not in PAGE_SIZES:
        size = DEFAULT_PAGE_SIZE
    paginator = Paginator(queryset, size)
    paginator.__dict__["count"] = count  # counted already by the state aggregate: no COUNT(*)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, size, query.urlencode()


# The release list and the pipeline.


@permission_required("releases.view_release", raise_exception=True)
def release_list(request):
    """Releases with the API's filters (state, level, unit, change, owner, search), a count per
    state and pages. A fixed number of queries whatever the number of rows."""
    filterset = ReleaseFilterSet(request.GET or None, queryset=selectors.release_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    # Counted on the bare model: the list's annotations would join items and targets.
    counting = ReleaseFilterSet(request.GET or None, queryset=Release.objects.all())
    base = counting.qs if counting.is_bound and valid else Release.objects.all()
    counts = dict(
        base.order_by()
        .values_list("state")
        .annotate(n=Count("id", distinct=True))
        .values_list("state", "n")
    )
    total = sum(counts.values())
    page, size, query = _paginate(request, queryset, count=total)
    selected_states = set(request.GET.getlist("state"))
    context = {
        "filterset": filterset,
        "page": page,
        "page_size": size,
        "page_sizes": PAGE_SIZES,
        "query": query,
        "total": total,
        "state_counts": [
            (state.value, state.label, counts.get(state.value, 0))
            for state in ReleaseState
            if counts.get(state.value)
        ],
        "states": [
            (state.value, state.label, state.value in selected_states) for state in ReleaseState
        ],
        "levels": ReleaseLevel.choices,
        "units": ConfigurationItem.objects.filter(kind__in=SERVICE_KINDS)
        .order_by("identifier")
        .values_list("id", "identifier"),
        "families": STATE_FAMILIES,
    }
    return render(request, "releases/release_list.html", context, status=200 if valid else 400)


@permission_required("releases.view_release", raise_exception=True)
def pipeline(request):
    """The board: one column per open state with its count and cards."""
    return render(request, "releases/pipeline.html", {"columns": selectors.pipeline()})


@permission_required("releases.view_release", raise_exception=True)
def pipeline_board(request):
    """The board alone, refreshed by htmx every 30 seconds."""
    return render(request, "releases/partials/_pipeline.html", {"columns": selectors.pipeline()})


# A release.


def _get_release(pk: int) -> Release:
    try:
        return selectors.release_detail(pk)
    except Release.DoesNotExist:
        raise Http404("No such release.") from None


def _transitions(release: Release, user) -> list[dict]:
    """The transitions ``user`` may take now, each with what would stop it (shown before the
    click) and whether it needs a reason."""
    return [
        {
            "name": name,
            "label": transition_label(name),
            "problems": services.condition_problems(release, name),
            "reason_required": name in services.REASON_REQUIRED,
            "help": (getattr(Release, name).__doc__ or "").strip().split("\n")[0],
        }
        for name in services.available_transitions(release, user)
    ]


def _can_edit(release: Release, user) -> bool:
    return release.is_editable and user.has_perm("releases.change_release")


def _render_detail(request, pk: int, *, status: int = 200, error=None, sign_off_forms=None):
    """The release page; ``error`` is a refused action (``{"title", "message", "problems"}``)
    shown at the top, ``sign_off_forms`` bound forms that failed, keyed by test item."""
    release = _get_release(pk)
    sign_off_forms = sign_off_forms or {}
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
    context = {
        "release": release,
        "diff": selectors.baseline_diff(release),
        "transitions": _transitions(release, request.user),
        "can_edit": _can_edit(release, request.user),
        "tests": tests,
        "can_complete_tasks": release.state == ReleaseState.ROLLOUT_PLANNED
        and request.user.has_perm("releases.plan_rollout_release"),
        "error": error,
        "timeline": release.transitions.all(),
        "targets": release.targets.all(),
    }
    return render(request, "releases/release_detail.html", context, status=status)


def _refused(request, pk: int, error: DomainError, title: str):
    """An action the services refused, shown on the release page with the error's status."""
    return _render_detail(
        request,
        pk,
        status=error.status_code,
        error={
            "title": title,
            "message": _text(error),
            "problems": error.extra.get("problems", []),
            "available": [
                transition_label(n) for n in error.extra.get("available_transitions", [])
            ],
        },
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
    form = TransitionForm(request.POST)
    reason = form.data.get("reason", "") if not form.is_valid() else form.cleaned_data["reason"]
    try:
        release = services.release_transition(
            release=release, name=name, by=request.user, reason=reason
        )
    except DomainError as error:
        if error.status_code == 404:
            raise Http404(_text(error)) from None
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
    paginator = Paginator(queryset, DEFAULT_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "releases/change_list.html",
        {"filterset": filterset, "page": page, "query": query.urlencode()},
        status=200 if valid else 400,
    )


@permission_required("releases.view_changerequest", raise_exception=True)
def change_detail(request, pk):
    change = get_object_or_404(ChangeRequest, pk=pk)
    releases = selectors.release_list().filter(change_requests=change).order_by("-created_at")
    return render(request, "releases/change_detail.html", {"change": change, "releases": releases})
