from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from releasemgmt.accounts.models import ApiToken, hash_token
from releasemgmt.core.db import CompiledQuery

# last_used_at is refreshed at most this often, so a busy agent does not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``: looked up by its SHA-256 digest; revoked or expired
    tokens and inactive users are refused with 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected `Bearer <token>`."
            )
        try:
            raw = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(
                "The token contains invalid characters."
            ) from None
        token = token_with_user(hash_token(raw))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("This token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


# Every API call runs it: compiled once per thread instead of on every call.
_token_with_user = CompiledQuery(
    ApiToken,
    lambda digest: ApiToken.objects.select_related("user").filter(digest=digest).order_by(),
)


def token_with_user(digest: str) -> ApiToken | None:
    """The token with that digest and its user, or None."""
    return _token_with_user.first(digest)
