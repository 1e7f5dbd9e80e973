from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Deny by default: the caller must be signed in, and on a model endpoint hold the model's
    permission for the method — ``view`` to read, ``add``/``change``/``delete`` to write.

    Views without a queryset (the API root, action-only views) need authentication only and
    declare anything stricter themselves."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if getattr(view, "_ignore_model_permissions", False):
            return True
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return True
        return super().has_permission(request, view)

    def _queryset(self, view):
        # Only the model matters here: a class-level ``queryset`` names it without running the
        # view's ``get_queryset`` (annotations, prefetches) a second time per request.
        queryset = getattr(view, "queryset", None)
        return queryset if queryset is not None else super()._queryset(view)


class HasPermission(permissions.BasePermission):
    """``HasPermission.of("app.codename")``: the caller holds that permission."""

    required: tuple[str, ...] = ()

    @classmethod
    def of(cls, *perms: str):
        return type("HasPermission", (cls,), {"required": perms})

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(self.required))
