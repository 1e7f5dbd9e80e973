from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import Q


class PermissionBackend(ModelBackend):
    """Django's model backend, reading a user's permissions — their own and their groups' — in
    one query instead of two. Every API call and page checks a permission, so this is one round
    trip less on each; the set is still read fresh per request (no cross-request cache that could
    keep a revoked role alive)."""

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                own = user_obj.user_permissions.through.objects.filter(user=user_obj)
                via_groups = Group.permissions.through.objects.filter(
                    group__in=user_obj.groups.through.objects.filter(user=user_obj).values("group")
                )
                permissions = permissions.filter(
                    Q(pk__in=own.values("permission")) | Q(pk__in=via_groups.values("permission"))
                )
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                ).order_by()
            }
        return user_obj._perm_cache
