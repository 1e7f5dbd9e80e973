from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from releasemgmt.accounts import roles, services
from releasemgmt.accounts.forms import ApiTokenForm, PreferencesForm
from releasemgmt.accounts.models import ApiToken, FeedToken
from releasemgmt.core.exceptions import DomainError, error_text


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def account(request):
    """The signed-in user's page: roles, preferences, API tokens and the calendar feed."""
    user = request.user
    token_form = ApiTokenForm()
    preferences_form = PreferencesForm(initial={"time_zone": user.time_zone})
    # Shown once, after the redirect that follows its creation (so a reload never re-posts).
    new_token = request.session.pop("new_token", None) if request.method == "GET" else None
    new_feed_url = request.session.pop("new_feed_url", None) if request.method == "GET" else None
    if request.method == "POST" and "issue_token" in request.POST:
        token_form = ApiTokenForm(request.POST)
        if token_form.is_valid():
            try:
                _, raw = services.api_token_issue(
                    user=user,
                    name=token_form.cleaned_data["name"],
                    expires_days=token_form.cleaned_data["expires_days"],
                    by=user,
                )
                request.session["new_token"] = raw
                return redirect("accounts:account")
            except DomainError as error:
                token_form.add_error(None, error_text(error))
    elif request.method == "POST" and "save_preferences" in request.POST:
        preferences_form = PreferencesForm(request.POST)
        if preferences_form.is_valid():
            services.user_update_preferences(
                user=user, time_zone=preferences_form.cleaned_data["time_zone"]
            )
            messages.success(request, "Preferences saved.")
            return redirect("accounts:account")
    context = {
        "tokens": ApiToken.objects.filter(user=user).order_by("-created_at"),
        "token_form": token_form,
        "preferences_form": preferences_form,
        "new_token": new_token,
        "new_feed_url": new_feed_url,
        "feed_token": FeedToken.objects.filter(user=user, revoked_at__isnull=True).first(),
        "may_subscribe": _may_subscribe(user),
        "role_labels": [roles.ROLE_LABELS.get(name, name) for name in user.role_names],
        "actions": roles.actions_for(user),
    }
    invalid = bool(token_form.errors or preferences_form.errors)
    return render(request, "accounts/account.html", context, status=400 if invalid else 200)


@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    services.api_token_revoke(token=token, by=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:account")


# The calendar feed shows releases: only for those who may view them (the feed checks it again
# on every fetch). The address is reversed by name, so accounts imports nothing of releases.
FEED_PERMISSION = "releases.view_release"
FEED_URL_NAME = "calendar:feed"


def _may_subscribe(user) -> bool:
    return user.has_perm(FEED_PERMISSION)


@require_POST
def feed_token_issue(request):
    """Create the calendar feed address, or renew it (the old address stops working). The new
    address is shown once, after the redirect."""
    if not _may_subscribe(request.user):
        raise PermissionDenied(
            "You may not view releases, so there is no calendar to subscribe to."
        )
    try:
        _, raw = services.feed_token_issue(user=request.user, by=request.user)
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect(f"{reverse('accounts:account')}#calendar-feed")
    request.session["new_feed_url"] = request.build_absolute_uri(
        reverse(FEED_URL_NAME, kwargs={"token": raw})
    )
    return redirect(f"{reverse('accounts:account')}#calendar-feed")


@require_POST
def feed_token_revoke(request):
    if services.feed_token_revoke(user=request.user, by=request.user):
        messages.success(
            request, "Calendar feed address revoked: calendars subscribed to it stop updating."
        )
    return redirect(f"{reverse('accounts:account')}#calendar-feed")
