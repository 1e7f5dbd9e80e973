from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from releasemgmt.accounts.models import ApiToken, hash_token
from releasemgmt.accounts.services import api_token_issue, api_token_revoke
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.models import AuditEvent
from tests.factories import ApiTokenFactory, UserFactory

pytestmark = pytest.mark.django_db
ME = "/api/v1/me/"


def bearer(api_client, raw):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


def test_token_is_stored_only_as_a_hash(role_user):
    user = role_user("integration")
    token, raw = api_token_issue(user=user, name="servicenow", by=user)
    assert raw.startswith("rm_") and len(raw) > 40
    assert token.digest == hash_token(raw) != raw
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert not any(raw in str(value) for row in rows for value in row)
    assert AuditEvent.objects.filter(action="api_token.issue", object_id=str(token.pk)).exists()


def test_bearer_token_authenticates_and_records_last_use(api_client, role_user):
    user = role_user("integration")
    token, raw = api_token_issue(user=user, name="agent", by=user)
    response = bearer(api_client, raw).get(ME)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == user.username
    assert body["roles"] == ["integration"]
    assert body["authenticated_by"] == "token"
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer rm_not-a-real-token", "Invalid token."),
        ("Bearer", "Malformed Authorization header"),
        ("Bearer a b", "Malformed Authorization header"),
    ],
)
def test_bad_tokens_get_401_json(api_client, db, header, message):
    api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert message in response.json()["detail"]


def test_expired_token_is_refused(api_client):
    token = ApiTokenFactory(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(api_client, token.raw).get(ME)
    assert response.status_code == 401
    assert response.json()["detail"] == "This token has expired."


def test_revoked_token_is_refused_and_revoke_is_idempotent(api_client):
    token = ApiTokenFactory()
    assert bearer(api_client, token.raw).get(ME).status_code == 200
    api_token_revoke(token=token, by=token.user)
    api_token_revoke(token=token, by=token.user)
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["detail"] == "This token has been revoked."
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1


def test_inactive_users_token_is_refused(api_client):
    token = ApiTokenFactory(user=UserFactory(is_active=False))
    assert bearer(api_client, token.raw).get(ME).status_code == 401


def test_issue_validates_and_refuses_duplicates(role_user):
    user = role_user("ops")
    api_token_issue(user=user, name="laptop", by=user)
    with pytest.raises(DomainConflict):
        api_token_issue(user=user, name="laptop", by=user)
    with pytest.raises(DomainValidationError):
        api_token_issue(user=user, name="  ", by=user)
    with pytest.raises(DomainValidationError):
        api_token_issue(user=user, name="x", expires_days=0, by=user)
    assert ApiToken.objects.filter(user=user).count() == 1


def test_auditor_may_not_issue_tokens(role_user):
    auditor = role_user("auditor")
    with pytest.raises(DomainPermissionDenied):
        api_token_issue(user=auditor, name="x", by=auditor)


def test_nobody_revokes_someone_elses_token_without_permission(role_user):
    token = ApiTokenFactory()
    with pytest.raises(DomainPermissionDenied):
        api_token_revoke(token=token, by=role_user("ops"))


def test_issue_token_command_prints_the_token_alone_on_its_last_line(capsys):
    user = UserFactory(username="svc-snow")
    call_command("issue_token", "svc-snow", "--name", "ServiceNow", "--expires-days", "30")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    token = ApiToken.objects.get(user=user)
    assert token.digest == hash_token(raw)
    assert token.expires_at > timezone.now() + timedelta(days=29)


def test_issue_token_command_unknown_user():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named"):
        call_command("issue_token", "ghost", "--name", "x")


def test_account_page_creates_shows_once_and_revokes(client, role_user):
    user = role_user("release_manager")
    client.force_login(user)
    response = client.post(
        reverse("accounts:account"), {"issue_token": "1", "name": "cli", "expires_days": ""}
    )
    assert response.status_code == 302  # post/redirect/get: a reload never re-posts
    response = client.get(response["Location"])
    raw = response.context["new_token"]
    assert raw.startswith("rm_") and raw in response.content.decode()
    # shown once: the next visit lists the token by its hint only
    page = client.get(reverse("accounts:account")).content.decode()
    assert raw not in page and raw[:10] in page
    token = ApiToken.objects.get(user=user)
    response = client.post(reverse("accounts:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_account_page_form_errors_are_shown(client, role_user):
    client.force_login(role_user("ops"))
    response = client.post(
        reverse("accounts:account"), {"issue_token": "1", "name": "", "expires_days": "-3"}
    )
    assert response.status_code == 400
    assert response.context["token_form"].errors.keys() == {"name", "expires_days"}


def test_cannot_revoke_another_users_token_from_the_page(client, role_user):
    other = ApiTokenFactory()
    client.force_login(role_user("ops"))
    assert client.post(reverse("accounts:token-revoke", args=[other.pk])).status_code == 404
    other.refresh_from_db()
    assert other.revoked_at is None


def test_the_compiled_token_lookup_loads_what_the_orm_loads(user):
    from releasemgmt.accounts.authentication import token_with_user
    from releasemgmt.accounts.models import ApiToken, hash_token
    from releasemgmt.accounts.services import api_token_issue

    issued, raw = api_token_issue(user=user, name="compiled lookup", by=None)
    fast = token_with_user(hash_token(raw))
    orm = ApiToken.objects.select_related("user").get(digest=hash_token(raw))
    for model, a, b in ((ApiToken, fast, orm), (type(user), fast.user, orm.user)):
        for field in model._meta.concrete_fields:
            assert getattr(a, field.attname) == getattr(b, field.attname), field.name
    assert fast.pk == issued.pk and fast.user.pk == user.pk
    assert token_with_user(hash_token(raw + "x")) is None
