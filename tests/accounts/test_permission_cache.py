"""Permissions are kept per process, keyed by the user's stamp: a change of roles, grants or a
role's permissions takes effect on the very next request."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releasemgmt.accounts.backends import permission_names
from releasemgmt.accounts.models import User

pytestmark = pytest.mark.django_db

CAN_VIEW_RELEASES = "releases.view_release"


def fresh(user):
    return User.objects.get(pk=user.pk)


def test_a_repeated_check_reads_no_permissions(role_user):
    user = role_user("auditor")
    assert fresh(user).has_perm(CAN_VIEW_RELEASES)
    again = fresh(user)
    with CaptureQueriesContext(connection) as queries:
        assert again.has_perm(CAN_VIEW_RELEASES)
    assert len(queries) == 0


def test_losing_a_role_takes_effect_on_the_next_request(role_user, token_client):
    user = role_user("auditor")
    client = token_client(user)
    assert client.get("/api/v1/releases/").status_code == 200
    user.groups.clear()
    assert client.get("/api/v1/releases/").status_code == 403


def test_removing_a_role_from_the_role_side_takes_effect(role_user, token_client):
    user = role_user("auditor")
    client = token_client(user)
    assert client.get("/api/v1/releases/").status_code == 200
    Group.objects.get(name="auditor").user_set.remove(user)
    assert client.get("/api/v1/releases/").status_code == 403


def test_a_role_losing_a_permission_takes_effect_for_its_members(role_user):
    user = role_user("auditor")
    assert fresh(user).has_perm(CAN_VIEW_RELEASES)
    permission = Permission.objects.get(codename="view_release", content_type__app_label="releases")
    Group.objects.get(name="auditor").permissions.remove(permission)
    assert not fresh(user).has_perm(CAN_VIEW_RELEASES)


def test_a_direct_grant_takes_effect_and_the_object_in_hand_follows(user):
    assert not fresh(user).has_perm(CAN_VIEW_RELEASES)
    permission = Permission.objects.get(codename="view_release", content_type__app_label="releases")
    user.user_permissions.add(permission)
    assert fresh(user).has_perm(CAN_VIEW_RELEASES)
    assert user.has_perm(CAN_VIEW_RELEASES)


def test_deleting_a_role_takes_effect(role_user):
    user = role_user("auditor")
    assert fresh(user).has_perm(CAN_VIEW_RELEASES)
    Group.objects.filter(name="auditor").delete()
    assert not fresh(user).has_perm(CAN_VIEW_RELEASES)


def test_inactive_users_and_superusers(user):
    superuser = User.objects.create_superuser("root-check", "root@example.com", "x-long-password")
    assert fresh(superuser).has_perm(CAN_VIEW_RELEASES)
    User.objects.filter(pk=superuser.pk).update(is_active=False)
    assert not fresh(superuser).has_perm(CAN_VIEW_RELEASES)


def test_a_new_stamp_is_a_new_entry(role_user):
    user = role_user("auditor")
    before = permission_names.cache_info().misses
    fresh(user).has_perm(CAN_VIEW_RELEASES)
    fresh(user).has_perm(CAN_VIEW_RELEASES)
    assert permission_names.cache_info().misses == before + 1
    user.groups.clear()
    assert not fresh(user).has_perm(CAN_VIEW_RELEASES)
    assert permission_names.cache_info().misses == before + 2


def test_role_names_are_read_once_per_stamp(role_user):
    user = role_user("auditor", "ops")
    assert fresh(user).role_names == ["auditor", "ops"]
    again = fresh(user)
    with CaptureQueriesContext(connection) as queries:
        assert again.role_names == ["auditor", "ops"]
    assert len(queries) == 0


def test_a_change_of_roles_shows_in_role_names_at_once(role_user, token_client):
    user = role_user("auditor")
    client = token_client(user)
    assert client.get("/api/v1/me/").json()["roles"] == ["auditor"]
    Group.objects.get(name="ops").user_set.add(user)
    assert client.get("/api/v1/me/").json()["roles"] == ["auditor", "ops"]
    user.groups.remove(Group.objects.get(name="auditor"))
    assert client.get("/api/v1/me/").json()["roles"] == ["ops"]


def test_a_renamed_role_shows_in_role_names_at_once(role_user):
    user = role_user("auditor")
    assert fresh(user).role_names == ["auditor"]
    role = Group.objects.create(name="reviewers")
    role.user_set.add(user)
    assert fresh(user).role_names == ["auditor", "reviewers"]
    role.name = "peer-reviewers"
    role.save()
    assert fresh(user).role_names == ["auditor", "peer-reviewers"]
