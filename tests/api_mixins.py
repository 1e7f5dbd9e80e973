"""Generic API tests in the spirit of NetBox's ``APIViewTestCases``.

A test class names the endpoint, the factory and the permissions, and inherits the checks::

    class TestAuditEventAPI(api.ListObjects, api.GetObject):
        url_name = "core-api:audit-event"
        factory = AuditEventFactory
        model = AuditEvent

Each mixin checks 401 for anonymous callers, 403 without the permission, success with it, and
(for writes) the stored fields and the audit row.
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
