"""The home page: who you are, and the cards of your roles (``cards.CARDS``); each live card
refreshes itself through ``card``."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kpis.dashboards import cards
from releasemgmt.accounts import roles


@require_GET
def home(request):
    """The role dashboard: a header line (name, roles), the user's cards most urgent first,
    and what the roles allow. A user without a role sees a note instead of cards."""
    user = request.user
    role_names = user.role_names
    context = {
        "role_labels": [roles.ROLE_LABELS.get(name, name) for name in role_names],
        "actions": roles.actions_for(user),
        "cards": cards.assemble(user, role_names, now=timezone.now()),
        "has_role": bool(role_names) or user.is_superuser,
    }
    return render(request, "kpis/dashboards/home.html", context)


@require_GET
def card(request, key):
    """One card alone (htmx refresh): 404 for an unknown card, 403 for one of another role."""
    found = cards.card_named(key)
    if found is None:
        raise Http404("No such dashboard card.")
    if found not in cards.visible_cards(request.user, request.user.role_names):
        raise PermissionDenied
    data = cards.load(found, user=request.user, now=timezone.now())
    return render(request, found.template, {"card": found, "data": data})
