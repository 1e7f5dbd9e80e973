"""A release: its page, a transition, a test sign-off, a roll-out task done."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainError,
    DomainValidationError,
    error_text,
)
from releases import services
from releases.forms import ReviewForm, SignOffForm, TransitionForm
from releases.models import Release, RolloutTask, TestScopeItem
from releases.templatetags.releases_tags import transition_label
from releases.views.common import refused, render_detail


@permission_required("releases.view_release", raise_exception=True)
def release_detail(request, pk):
    return render_detail(request, pk)


@require_POST
@permission_required("releases.view_release", raise_exception=True)
def release_transition(request, pk, name):
    """Take transition ``name`` with the reason given — and, outside the plan's window, the
    confirmation; for ``review``, the review (its outcome required); a refusal shows the
    service's message and what is missing, with its status (403, 400, 409)."""
    release = get_object_or_404(Release, pk=pk)
    if name == "override_backout":
        # Separation of duties: an override is requested by one person and confirmed by another.
        error = DomainConflict(
            "An override needs two people: request it with a written reason in the back-out "
            "panel; another person with the override permission confirms it."
        )
        return refused(request, pk, error, "Override back-out refused")
    form = TransitionForm(request.POST)
    reason = form.data.get("reason", "") if not form.is_valid() else form.cleaned_data["reason"]
    details = form.details()
    forms = {}
    if name == "review":
        forms["review"] = review = ReviewForm(request.POST)
        if not review.is_valid():
            error = DomainValidationError(
                {field: " ".join(texts) for field, texts in review.errors.items()}
            )
            return refused(request, pk, error, "Review refused", **forms)
        details["review"] = review.review()
    try:
        release = services.release_transition(
            release=release, name=name, by=request.user, reason=reason, details=details
        )
    except DomainError as error:
        if error.status_code == 404:
            raise Http404(error_text(error)) from None
        if "review" in forms and isinstance(error, DomainValidationError):
            forms["review"].add_service_errors(error)
        return refused(request, pk, error, f"{transition_label(name)} refused", **forms)
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
            return refused(request, pk, error, "Sign-off refused")
        else:
            messages.success(
                request, f"“{item.title}” signed off as {form.cleaned_data['result']}."
            )
            return redirect(f"{reverse('releases:release-detail', args=[pk])}#tests")
    return render_detail(request, pk, status=400, sign_off_forms={item.pk: form})


@require_POST
@permission_required("releases.view_release", raise_exception=True)
def rollout_task_done(request, pk, task_pk):
    task = get_object_or_404(RolloutTask, pk=task_pk, release_id=pk)
    try:
        services.rollout_task_complete(task=task, by=request.user)
    except DomainError as error:
        return refused(request, pk, error, "Roll-out task not completed")
    messages.success(request, f"{task} marked done.")
    return redirect(f"{reverse('releases:release-detail', args=[pk])}#rollout")
