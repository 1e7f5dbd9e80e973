"""Agents on the CIs: their heartbeat (last seen, login count) and what a CI-scoped token may act
for."""

from django.utils import timezone

from releasemgmt.core.exceptions import DomainPermissionDenied
from releases.models import AgentStatus


def ci_scope_check(ci_scope: str, identifier: str) -> None:
    """A token scoped to a CI (an agent's) acts for that CI only: 403 otherwise."""
    if ci_scope and ci_scope.lower() != identifier.lower():
        raise DomainPermissionDenied(f"This token may only act for {ci_scope}, not {identifier}.")


def agent_heartbeat(*, ci, login_count: int | None, agent_version: str = "") -> AgentStatus:
    status, _ = AgentStatus.objects.update_or_create(
        ci=ci,
        defaults={
            "last_seen": timezone.now(),
            "login_count": login_count,
            "agent_version": agent_version[:50],
        },
    )
    return status
