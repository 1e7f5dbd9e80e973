"""Generic API tests in the spirit of NetBox's ``APIViewTestCases``.

A test class names the endpoint, the factory and the permissions, and inherits the checks::

    class TestAuditEventAPI(api.ListObjects, api.GetObject):
        url_name = "core-api:audit-event"
        factory = AuditEventFactory
        model = AuditEvent

Each mixin checks 401 for anonymous callers, 403 without the permission, success with it, and
(for writes) the stored fields and the audit row. ``CreateObject``/``UpdateObject`` need
``create_data()``/``update_data()``; ``audit_actions``/``audit_target()`` adapt the audit check to
a service that names its own action or object.
"""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import UserFactory


def grant(user, *perms: str):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    # Permission caches live on the instance; hand back a fresh one.
    return type(user).objects.get(pk=user.pk)


class _Base:
    url_name: str
    factory = None
    model = None
    list_size = 30
    # Queries a list may cost, whatever its length (auth, permissions, count, page, prefetches).
    max_list_queries = 8

    def perm(self, action: str) -> str:
        meta = self.model._meta
        return f"{meta.app_label}.{action}_{meta.model_name}"

    def list_url(self):
        return reverse(f"{self.url_name}-list")

    def detail_url(self, obj):
        return reverse(f"{self.url_name}-detail", kwargs={"pk": obj.pk})

    @pytest.fixture
    def reader(self, db):
        return grant(UserFactory(), self.perm("view"))

    @pytest.fixture
    def outsider(self, db):
        return UserFactory()


class GetObject(_Base):
    def test_get_anonymous_is_401(self, api_client, db):
        obj = self.factory()
        response = api_client.get(self.detail_url(obj))
        assert response.status_code == 401, response.content
        assert "detail" in response.json()

    def test_get_without_permission_is_403(self, token_client, outsider):
        obj = self.factory()
        response = token_client(outsider).get(self.detail_url(obj))
        assert response.status_code == 403, response.content

    def test_get_with_permission(self, token_client, reader):
        obj = self.factory()
        response = token_client(reader).get(self.detail_url(obj))
        assert response.status_code == 200, response.content
        assert response.json()["id"] == obj.pk

    def test_get_missing_is_404_json(self, token_client, reader):
        response = token_client(reader).get(
            reverse(f"{self.url_name}-detail", kwargs={"pk": 987654321})
        )
        assert response.status_code == 404
        assert response.json()["detail"]


class ListObjects(_Base):
    def test_list_anonymous_is_401(self, api_client, db):
        assert api_client.get(self.list_url()).status_code == 401

    def test_list_without_permission_is_403(self, token_client, outsider):
        assert token_client(outsider).get(self.list_url()).status_code == 403

    def test_list_query_count_is_fixed(self, token_client, reader, django_assert_max_num_queries):
        self.factory.create_batch(self.list_size)
        client = token_client(reader)
        with django_assert_max_num_queries(self.max_list_queries):
            response = client.get(self.list_url(), {"page_size": self.list_size})
        assert response.status_code == 200
        body = response.json()
        assert body["count"] >= self.list_size
        assert len(body["results"]) == self.list_size


def _same(stored, given) -> bool:
    """Compare a value the API answers with one it was given (dates and numbers as text)."""
    if isinstance(given, dict) and isinstance(stored, dict):
        return all(_same(stored.get(key), value) for key, value in given.items())
    return stored == given or str(stored) == str(given)


class _Writer(_Base):
    # The audit action a write leaves, as "<app>.<model>.<verb>" unless a subclass says otherwise.
    audit_actions = {"create": None, "update": None, "delete": None}

    def audit_action(self, verb: str) -> str:
        meta = self.model._meta
        return self.audit_actions.get(verb) or f"{meta.app_label}.{meta.model_name}.{verb}"

    def audit_target(self, obj):
        """The object the audit event names (the written object unless a service says else)."""
        return obj

    def assert_audited(self, verb: str, obj, user):
        from releasemgmt.core.models import AuditEvent

        target = self.audit_target(obj)
        event = AuditEvent.objects.filter(
            action=self.audit_action(verb), object_id=str(target.pk)
        ).last()
        assert event is not None, f"no audit event {self.audit_action(verb)} for {target!r}"
        assert event.actor_id == user.pk

    @pytest.fixture
    def writer(self, db):
        return grant(
            UserFactory(),
            self.perm("view"),
            self.perm("add"),
            self.perm("change"),
            self.perm("delete"),
        )


class CreateObject(_Writer):
    """Subclasses define ``create_data(self) -> dict`` (called inside the test's database)."""

    create_status = 201

    def create_data(self) -> dict:
        raise NotImplementedError

    def test_create_anonymous_is_401(self, api_client, db):
        response = api_client.post(self.list_url(), self.create_data(), format="json")
        assert response.status_code == 401

    def test_create_without_permission_is_403(self, token_client, reader):
        before = self.model.objects.count()
        response = token_client(reader).post(self.list_url(), self.create_data(), format="json")
        assert response.status_code == 403, response.content
        assert self.model.objects.count() == before

    def test_create_with_permission(self, token_client, writer):
        data = self.create_data()
        response = token_client(writer).post(self.list_url(), data, format="json")
        assert response.status_code == self.create_status, response.content
        body = response.json()
        obj = self.model.objects.get(pk=body["id"])
        stored = token_client(writer).get(self.detail_url(obj)).json()
        for field, value in data.items():
            assert _same(stored[field], value), f"{field}: sent {value!r}, stored {stored[field]!r}"
        self.assert_audited("create", obj, writer)


class UpdateObject(_Writer):
    """Subclasses define ``update_data(self) -> dict`` (sent as a PATCH)."""

    def update_data(self) -> dict:
        raise NotImplementedError

    def test_update_anonymous_is_401(self, api_client, db):
        obj = self.factory()
        assert api_client.patch(self.detail_url(obj), {}, format="json").status_code == 401

    def test_update_without_permission_is_403(self, token_client, reader):
        obj = self.factory()
        response = token_client(reader).patch(
            self.detail_url(obj), self.update_data(), format="json"
        )
        assert response.status_code == 403, response.content

    def test_update_with_permission(self, token_client, writer):
        obj = self.factory()
        data = self.update_data()
        response = token_client(writer).patch(self.detail_url(obj), data, format="json")
        assert response.status_code == 200, response.content
        stored = token_client(writer).get(self.detail_url(obj)).json()
        for field, value in data.items():
            assert _same(stored[field], value), f"{field}: sent {value!r}, stored {stored[field]!r}"
        self.assert_audited("update", obj, writer)


class DeleteObject(_Writer):
    def test_delete_anonymous_is_401(self, api_client, db):
        obj = self.factory()
        assert api_client.delete(self.detail_url(obj)).status_code == 401

    def test_delete_without_permission_is_403(self, token_client, reader):
        obj = self.factory()
        assert token_client(reader).delete(self.detail_url(obj)).status_code == 403
        assert self.model.objects.filter(pk=obj.pk).exists()

    def test_delete_with_permission(self, token_client, writer):
        obj = self.factory()
        pk = obj.pk
        response = token_client(writer).delete(self.detail_url(obj))
        assert response.status_code == 204, response.content
        assert not self.model.objects.filter(pk=pk).exists()
        obj.pk = pk  # the audit event names the deleted object's id
        self.assert_audited("delete", obj, writer)
