"""Freeze windows: the list, declaring one, deleting one."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from releasemgmt.core.exceptions import DomainError, DomainValidationError, error_text
from releasemgmt.core.services import record_delete
from releases.forms import FreezeWindowForm
from releases.models import FreezeWindow
from releases.services import freezes

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
