"""The project's middleware. Page-only middleware (sessions, the session's user, messages, htmx,
the user's time zone, the login requirement) does nothing for calls that carry their own
credentials: API calls with an ``Authorization`` header, and the paths that need no sign-in
(health, static files, the signed webhook receiver). Those skip it with one check per request,
so the cheapest API call costs what DRF's own work costs. Each wrapper subclasses Django's class,
so the admin's system checks still recognise it. CSRF and frame options stay Django's own (the
deploy checks look for them by name); both cost next to nothing without a cookie."""

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django_htmx import middleware as htmx_middleware


def carries_own_credentials(request) -> bool:
    """True for a request page middleware has nothing to do for (decided once per request)."""
    try:
        return request._carries_own_credentials
    except AttributeError:
        path = request.path_info
        own = path.startswith(settings.LOGIN_NOT_REQUIRED_PREFIXES) or (
            "HTTP_AUTHORIZATION" in request.META
            and path.startswith(settings.API_AUTHENTICATES_ITSELF_PREFIXES)
        )
        request._carries_own_credentials = own
        return own


class PagesOnly:
    """Mixin: the wrapped middleware runs for pages and session calls only."""

    def __call__(self, request):
        if carries_own_credentials(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(PagesOnly, sessions_middleware.SessionMiddleware):
    pass


class AuthenticationMiddleware(PagesOnly, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(PagesOnly, messages_middleware.MessageMiddleware):
    pass


class HtmxMiddleware(PagesOnly, htmx_middleware.HtmxMiddleware):
    pass


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Every page requires a signed-in user unless its view is marked ``@login_not_required`` or
    its path is on the allow-list (health, static files, signed webhooks).

    API paths (not the interactive docs, a page) are left to Django REST framework, which
    authenticates bearer tokens as well as sessions and answers 401 JSON; its default permission
    denies anonymous callers. (DRF marks its views ``login_not_required`` for the same reason.)"""

    def process_view(self, request, view_func, view_args, view_kwargs):
        path = request.path_info
        if carries_own_credentials(request) or path.startswith(
            settings.LOGIN_NOT_REQUIRED_PREFIXES
        ):
            return None
        if path.startswith(settings.API_AUTHENTICATES_ITSELF_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
