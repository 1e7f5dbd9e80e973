"""The back-out queue: ops' dashboard, its refresh and the top bar's badge."""

from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from releases import selectors
from releases.choices import ReleaseState
from releases.models import Release
from releases.views.panels import attach_decision


def _backout_queue() -> tuple[list[Release], list[Release]]:
    """Releases waiting for a decision and those backing out, each with its progress."""
    releases = selectors.backout_queue_with_progress()
    waiting = [r for r in releases if r.state == ReleaseState.BACKOUT_REQUIRED]
    backing_out = [r for r in releases if r.state == ReleaseState.BACKING_OUT]
    return waiting, backing_out


def render_queue(request, *, status: int = 200, error=None, forms=None, partial=False):
    waiting, backing_out = _backout_queue()
    forms = forms or {}
    for release in waiting:
        attach_decision(release, forms.get(release.pk))
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
    return render_queue(request)


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def backout_queue_list(request):
    """The queue alone, refreshed by htmx every 5 seconds (paused while a reason is typed)."""
    return render_queue(request, partial=True)


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
