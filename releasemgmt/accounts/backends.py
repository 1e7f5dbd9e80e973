"""Permission checks that cost nothing on repeat.

Every API call and page checks a permission, and Django reads a user's permissions from the
database on each request (two queries). Here they are read in one query and kept per process,
keyed by the user and their ``permissions_stamp`` — a random value renewed in the same transaction
as any change that can alter what a user may do (their roles or grants, a role's permissions, a
role or permission deleted). The stamp is read with the user on every request, so a change takes
effect on the next request in every process; nothing is kept that a revoked role could outlive.
"""

import uuid
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_save, pre_delete


class PermissionBackend(ModelBackend):
    """Django's model backend with the permission set read once per user and stamp."""

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = set(
                permission_names(user_obj.pk, user_obj.permissions_stamp, user_obj.is_superuser)
            )
        return user_obj._perm_cache


@lru_cache(maxsize=4096)
def permission_names(user_id: int, stamp: uuid.UUID, is_superuser: bool) -> frozenset[str]:
    """``{"app_label.codename", …}`` for the user: their own and their roles' (all for a
    superuser). ``stamp`` is part of the key only: a new stamp is a new entry."""
    permissions = Permission.objects.all()
    if not is_superuser:
        user_model = get_user_model()
        own = user_model.user_permissions.through.objects.filter(user_id=user_id)
        via_roles = Group.permissions.through.objects.filter(
            group__in=user_model.groups.through.objects.filter(user_id=user_id).values("group")
        )
        permissions = permissions.filter(
            Q(pk__in=own.values("permission")) | Q(pk__in=via_roles.values("permission"))
        )
    return frozenset(
        f"{app_label}.{codename}"
        for app_label, codename in permissions.values_list(
            "content_type__app_label", "codename"
        ).order_by()
    )


def renew_permission_stamps(sender, instance=None, action=None, reverse=False, **kwargs):
    """Signal receiver: a user's own roles or grants changed → renew that user's stamp (also on
    the object in hand); anything wider (a role's permissions, a role or permission deleted,
    changes made from the role's side) → renew every user's stamp. Both are one UPDATE, in the
    transaction that makes the change."""
    if action is not None and not action.startswith("post_"):
        return
    user_model = get_user_model()
    stamp = uuid.uuid4()
    if isinstance(instance, user_model) and not reverse:
        user_model.objects.filter(pk=instance.pk).update(permissions_stamp=stamp)
        instance.permissions_stamp = stamp
        instance.__dict__.pop("_perm_cache", None)
    else:
        user_model.objects.update(permissions_stamp=stamp)


def connect_signals() -> None:
    user_model = get_user_model()
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(
            renew_permission_stamps, sender=through, dispatch_uid=f"stamps.{through.__name__}"
        )
    for model in (Group, Permission):
        pre_delete.connect(
            renew_permission_stamps, sender=model, dispatch_uid=f"stamps.{model.__name__}"
        )
    # A renamed role changes every holder's role names.
    post_save.connect(renew_role_names, sender=Group, dispatch_uid="stamps.Group.save")


def renew_role_names(sender, instance, created=False, **kwargs):
    if not created:
        renew_permission_stamps(sender, instance)
