"""Creating and editing a release: create, edit, and the plan page with its forms (schedule,
contents, targets, back-out plan, failure conditions), each posting to its own URL — with htmx,
only the posted section is drawn again — and the target picker's CI search."""

from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cmdb.choices import Environment
from cmdb.selectors import ci_target_candidates, unit_host_environment
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainError,
    DomainValidationError,
    error_text,
)
from releasemgmt.core.presentation import htmx_swap
from releases import selectors, services
from releases.forms import (
    BackoutPlanForm,
    FailureConditionForm,
    HardwareItemForm,
    ReleaseForm,
    ScheduleForm,
    SoftwareItemForm,
    TargetsForm,
)
from releases.models import FailureCondition, Release, ReleaseItem
from releases.views.common import get_release, refused

# Rows of the target picker's list; typing more of a name narrows a longer one.
PICKER_RESULTS = 12


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
        return _plan_refused(request, release.pk, error)
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
            return refused(request, pk, error, "The plan cannot change")
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


def _picker_environment(release: Release) -> str:
    """The environment the target picker starts in: that of most current targets, else that of
    most CIs the release unit runs on, else none (every environment)."""
    counts = Counter(t.ci.environment for t in release.targets.all())
    if counts:
        return counts.most_common(1)[0][0]
    return unit_host_environment(release.release_unit_id)


def _picker_context(release: Release, *, query: str = "", environment: str = "") -> dict:
    found = ci_target_candidates(
        query=query,
        environment=environment,
        unit_id=release.release_unit_id,
        limit=PICKER_RESULTS,
    )
    return {
        "candidates": found[:PICKER_RESULTS],
        "more_candidates": len(found) > PICKER_RESULTS,
        "picker_query": query,
        "picker_environment": environment,
        "picker_environment_label": dict(Environment.choices).get(environment, ""),
    }


def _plan_context(request, pk: int, **bound) -> dict:
    release = get_release(pk)
    forms = _plan_forms(release)
    forms.update(bound)
    context = {
        "release": release,
        "diff": selectors.baseline_diff(release),
        "problems": release.plan_problems(),
        "time_zone": timezone.get_current_timezone_name(),
        "environments": Environment.choices,
        "can_search_cis": request.user.has_perm("cmdb.view_configurationitem"),
        **forms,
    }
    if context["can_search_cis"]:
        context.update(_picker_context(release, environment=_picker_environment(release)))
    return context


def _render_plan(request, pk: int, *, status: int = 200, **bound):
    context = _plan_context(request, pk, **bound)
    return render(request, "releases/release_plan.html", context, status=status)


def _render_section(request, pk: int, section: str, *, status: int = 200, done="", **bound):
    """One section of the plan page for htmx, with the plan's status box (out of band): the
    rest of the page, and whatever is typed there, stays as it is."""
    context = _plan_context(request, pk, **bound)
    context.update(
        {
            "section_template": f"releases/partials/_plan_{section}.html",
            "done": done,
            "failed": status >= 400,
        }
    )
    return render(request, "releases/partials/_plan_section.html", context, status=status)


def _plan_redirect(pk: int, anchor: str):
    return redirect(f"{reverse('releases:release-plan', args=[pk])}#{anchor}")


def _plan_refused(request, pk: int, error: DomainError):
    """A refused plan edit: the release page with the message and the error's status. For htmx,
    the same message on the release page the browser is sent to (a fragment of the release
    page cannot stand in for a plan section)."""
    if htmx_swap(request):
        messages.error(request, error_text(error))
        response = HttpResponse(status=error.status_code)
        response["HX-Redirect"] = reverse("releases:release-detail", args=[pk])
        return response
    return refused(request, pk, error, "The plan cannot change")


def _saved(request, pk: int, section: str, done: str):
    """After a section's service succeeded: htmx gets the section back, drawn anew with the
    message; a plain form post goes back to the plan page at the section."""
    if htmx_swap(request):
        return _render_section(request, pk, section, done=done)
    messages.success(request, done)
    return _plan_redirect(pk, section)


@permission_required("releases.change_release", raise_exception=True)
def release_plan(request, pk):
    """The plan editor: schedule, contents, targets, back-out plan, failure conditions. Each
    section posts to its own URL; with htmx only that section is drawn again, so what is typed
    in the others stays (and leaving the page with unsaved changes asks first)."""
    release = get_object_or_404(Release, pk=pk)
    if not release.is_editable:
        return _frozen(request, release)
    return _render_plan(request, pk)


def _plan_action(request, release, form_key, form, section, call, done):
    """Run ``call(form)`` (a plan service) if ``form`` is valid: success → the section with
    ``done``; a validation error → the section (htmx) or the plan page with the form's errors
    (400); a frozen plan or a refusal → the release page with the message (409/403)."""
    pk = release.pk
    if not release.is_editable:
        return _frozen(request, release)
    if form.is_valid():
        try:
            call(form)
        except DomainValidationError as error:
            form.add_service_errors(error.message)
        except DomainError as error:
            return _plan_refused(request, pk, error)
        else:
            return _saved(request, pk, section, done)
    if htmx_swap(request):
        return _render_section(request, pk, section, status=400, **{form_key: form})
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
    return _plan_remove(
        request,
        item,
        lambda: services.release_item_remove(item=item, by=request.user),
        "contents",
        f"{item} removed.",
    )


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
    return _plan_remove(
        request,
        condition,
        lambda: services.release_failure_condition_remove(condition=condition, by=request.user),
        "conditions",
        f"Failure condition “{condition}” removed.",
    )


def _plan_remove(request, row, remove, anchor: str, done: str):
    """Remove one row of a plan section (an item, a failure condition) through its service:
    refused while the plan is frozen, the section redrawn with ``done`` when it went."""
    if not row.release.is_editable:
        return _frozen(request, row.release)
    try:
        remove()
    except DomainError as error:
        return _plan_refused(request, row.release_id, error)
    return _saved(request, row.release_id, anchor, done)


@require_GET
@permission_required("cmdb.view_configurationitem", raise_exception=True)
def target_search(request, pk):
    """The target picker's list (an htmx fragment): with ``q``, the CIs whose identifier or name
    contains it; without, suggestions — the CIs the release unit runs on, then the others of the
    ``environment``. A fixed number of queries, at most ``PICKER_RESULTS`` rows."""
    release = get_object_or_404(Release.objects.select_related("release_unit"), pk=pk)
    environment = request.GET.get("environment", "")
    if environment not in Environment.values:
        environment = ""
    query = request.GET.get("q", "")[:100]
    context = {"release": release, **_picker_context(release, query=query, environment=environment)}
    return render(request, "releases/partials/_plan_target_results.html", context)
