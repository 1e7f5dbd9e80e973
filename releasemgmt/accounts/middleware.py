import zoneinfo

from django.utils import timezone

from releasemgmt.core.middleware import carries_own_credentials


class UserTimezoneMiddleware:
    """Show times in the signed-in user's time zone; everything is stored and compared in UTC."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if carries_own_credentials(request):  # answers in UTC; no session user to ask
            timezone.deactivate()
            return self.get_response(request)
        user = getattr(request, "user", None)
        name = (
            getattr(user, "time_zone", None) if user is not None and user.is_authenticated else None
        )
        if name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
