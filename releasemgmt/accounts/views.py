from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from releasemgmt.accounts import roles, services
from releasemgmt.accounts.forms import ApiTokenForm, PreferencesForm
from releasemgmt.accounts.models import ApiToken
from releasemgmt.core.exceptions import DomainError


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def account(request):
    """The signed-in user's page: roles, preferences and API tokens."""
    user = request.user
    token_form = ApiTokenForm()
    preferences_form = PreferencesForm(initial={"time_zone": user.time_zone})
    # Shown once, after the redirect that follows its creation (so a reload never re-posts).
    new_token = request.session.pop("new_token", None) if request.method == "GET" else None
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
                token_form.add_error(
                    None, error.message if isinstance(error.message, str) else str(error)
                )
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
