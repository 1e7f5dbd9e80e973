"""Permissions the release API's viewsets share."""

from releasemgmt.core.api.permissions import HasPermission


class CanViewRelease(HasPermission):
    required = ("releases.view_release",)


class CanEditPlan(HasPermission):
    required = ("releases.view_release", "releases.change_release")
