"""What a person is told they may do is what they may do: an action counts only when every
permission it grants is held."""

import pytest

from releasemgmt.accounts import roles

pytestmark = pytest.mark.django_db


def keys(user) -> set[str]:
    return {action.key for action in roles.actions_for(user)}


def test_a_shared_permission_does_not_make_the_whole_action(role_user):
    # release managers reserve DHS hardware (dsl_dhs.add_reservation), which the pattern
    # "dsl_dhs.add_*" of "Maintain the CMDB, DSL and DHS … import CSV" also matches
    manager = role_user(roles.RELEASE_MANAGER)
    assert manager.has_perm("dsl_dhs.add_reservation")
    assert "maintain_cmdb" not in keys(manager)
    assert {"plan_releases", "reserve_hardware", "override_freeze"} <= keys(manager)


def test_every_role_is_told_exactly_its_actions(role_user):
    for role, granted in roles.ROLES.items():
        assert keys(role_user(role)) == set(granted), role


def test_a_superuser_may_do_everything(django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="x-secret-pass-1")
    assert keys(admin) == {action.key for action in roles.ACTIONS}
