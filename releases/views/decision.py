"""The back-out decision, from the release page or the back-out queue: approve, request an
override, confirm someone else's."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from releasemgmt.core.exceptions import DomainError, DomainValidationError, error_text
from releases import services
from releases.forms import ApproveBackoutForm, OverrideRequestForm
from releases.models import BackoutOverride, Release
from releases.services import overrides
from releases.views.common import error_box, render_detail
from releases.views.queue import render_queue


def _decision_done(request, release_pk: int, message: str):
    messages.success(request, message)
    if request.POST.get("origin") == "queue":
        return redirect(f"{reverse('releases:backout-queue')}#release-{release_pk}")
    return redirect("releases:release-detail", pk=release_pk)


def _decision_refused(request, release_pk: int, error: DomainError | None, title: str, **forms):
    """Back to the page the decision came from (the queue or the release), with the service's
    message and the status it gave, the typed reason kept."""
    status = error.status_code if error is not None else 400
    box = error_box(error, title) if error is not None else None
    if request.POST.get("origin") == "queue":
        return render_queue(request, status=status, error=box, forms={release_pk: forms})
    return render_detail(request, release_pk, status=status, error=box, decision_forms=forms)


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
