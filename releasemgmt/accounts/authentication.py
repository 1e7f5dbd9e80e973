import threading
from datetime import timedelta

from django.db import connections, router
from django.db.models.query import get_related_populators
from django.utils import timezone
from rest_framework import authentication, exceptions

from releasemgmt.accounts.models import ApiToken, hash_token

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


_compiled = threading.local()


def token_with_user(digest: str) -> ApiToken | None:
    """``ApiToken.objects.select_related("user").filter(digest=digest).first()`` without building
    the query on every call: the ORM compiles it once per thread and database, then each call
    runs the SQL and builds the token and its user the way the ORM does (its converters and
    populators). The ORM's compilation costs more than the query itself, on every API call."""
    db = router.db_for_read(ApiToken)
    compiled = getattr(_compiled, db, None)
    if compiled is None:
        compiled = _compile(db)
        setattr(_compiled, db, compiled)
    compiler, sql, init_list, start, end, populators = compiled
    with connections[db].cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    row = next(iter(compiler.results_iter([[row]])))
    token = ApiToken.from_db(db, init_list, row[start:end])
    for populator in populators:
        populator.populate(row, token)
    return token


def _compile(db: str):
    probe = "digest-placeholder"
    query = ApiToken.objects.select_related("user").filter(digest=probe).order_by().query
    compiler = query.get_compiler(using=db)
    sql, params = compiler.as_sql()
    if list(params) != [probe]:  # the query's shape is not what this function expects
        raise AssertionError(f"unexpected parameters of the token query: {params!r}")
    select_fields = compiler.klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    init_list = [column[0].target.attname for column in compiler.select[start:end]]
    populators = get_related_populators(compiler.klass_info, compiler.select, db)
    return compiler, sql, init_list, start, end, populators
