"""Deployment: the progress card's refresh, install now on one target, retrying the failed
installations, the emergency install during a freeze. The card itself is built in ``panels``."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from releasemgmt.core.exceptions import DomainError, DomainValidationError
from releases.forms import EmergencyInstallForm, InstallNowForm
from releases.models import Release, ReleaseTarget
from releases.services import installation, overrides
from releases.views.common import refused, render_detail
from releases.views.panels import deployment_card, target_query


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def deployment_progress(request, pk):
    """The deployment card alone, refreshed by htmx every 5 seconds. When the release changed
    state since the page was drawn (``seen``), the whole page reloads: its banner and actions
    depend on the state."""
    release = get_object_or_404(Release, pk=pk)
    context = {"release": release, "deployment": deployment_card(request, release, request.GET)}
    response = render(request, "releases/partials/_deployment.html", context)
    seen = request.GET.get("seen")
    if seen and seen != release.state:
        response["HX-Refresh"] = "true"
    return response


def _back_to_targets(pk: int, params) -> str:
    query = target_query(params)
    return (
        f"{reverse('releases:release-detail', args=[pk])}{'?' + query if query else ''}#deployment"
    )


@require_POST
@permission_required("releases.deploy_release", raise_exception=True)
def target_install_now(request, pk, target_pk):
    """Release one target's installation to run now. During a freeze the service answers 409,
    unless the user may override freezes and gives a reason; outside the installation window,
    unless confirmed with a reason (or always, when the category refuses it)."""
    target = get_object_or_404(
        ReleaseTarget.objects.select_related("ci"), pk=target_pk, release_id=pk
    )
    form = InstallNowForm(request.POST)
    data = form.cleaned_data if form.is_valid() else {}
    try:
        installation.target_install_now(
            target=target,
            by=request.user,
            freeze_override_reason=data.get("freeze_override_reason", ""),
            confirm_outside_window=data.get("confirm_outside_window", False),
            outside_window_reason=data.get("outside_window_reason", ""),
        )
    except DomainError as error:
        return refused(request, pk, error, f"Install now on {target.ci.identifier} refused")
    messages.success(
        request,
        f"The installation on {target.ci.identifier} is released to run now: its agent picks it "
        "up on its next poll.",
    )
    return redirect(_back_to_targets(pk, request.POST))


@require_POST
@permission_required("releases.deploy_release", raise_exception=True)
def release_retry_failed(request, pk):
    """Run every failed installation again now, a new attempt each (during a freeze, with the
    freeze-override permission and a reason; outside the installation window, confirmed with a
    reason). A refusal shows the service's message (409)."""
    release = get_object_or_404(Release, pk=pk)
    form = InstallNowForm(request.POST)
    data = form.cleaned_data if form.is_valid() else {}
    try:
        retried = installation.release_retry_failed_targets(
            release=release,
            by=request.user,
            freeze_override_reason=data.get("freeze_override_reason", ""),
            confirm_outside_window=data.get("confirm_outside_window", False),
            outside_window_reason=data.get("outside_window_reason", ""),
        )
    except DomainError as error:
        return refused(request, pk, error, "Retry of the failed targets refused")
    messages.success(
        request,
        f"{release.number}: {retried} failed installation{'s' if retried != 1 else ''} run "
        "again now, a new attempt each: their agents pick them up on their next poll.",
    )
    return redirect("releases:release-detail", pk=pk)


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
            return refused(request, pk, error, "Emergency installation refused", emergency=form)
        else:
            messages.success(
                request,
                f"{release.number}: installing despite the freeze (emergency override recorded).",
            )
            return redirect("releases:release-detail", pk=release.pk)
    return render_detail(request, pk, status=400, decision_forms={"emergency": form})


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def agent_help(request):
    """How to connect an agent: the token to issue, the calls it makes, the reference agent."""
    return render(request, "releases/agent_help.html", {"site": request.build_absolute_uri("/")})
