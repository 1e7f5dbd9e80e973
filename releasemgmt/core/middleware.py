from django.conf import settings
from django.contrib.auth import middleware as auth_middleware


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Every page requires a signed-in user unless its view is marked ``@login_not_required`` or
    its path is on the allow-list (health, static files, signed webhooks).

    API paths (not the interactive docs, a page) are left to Django REST framework, which
    authenticates bearer tokens as well as sessions and answers 401 JSON; its default permission
    denies anonymous callers. (DRF marks its views ``login_not_required`` for the same reason.)"""

    def process_view(self, request, view_func, view_args, view_kwargs):
        path = request.path_info
        if path.startswith(settings.LOGIN_NOT_REQUIRED_PREFIXES):
            return None
        if path.startswith(settings.API_AUTHENTICATES_ITSELF_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
