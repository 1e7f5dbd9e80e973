"""Roles are Django groups; what each may do is declared here once.

``ACTIONS`` names what a person can do and the permissions that grant it (``app.codename``,
shell-style wildcards allowed so that a domain app's new models join their action on the next
migrate). ``ROLES`` says which actions each role holds. The groups are created by a data migration
and kept in step after every ``migrate``; the README's permission matrix is generated from here
(``manage.py roles_matrix``) and a test keeps the two equal."""

from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache, lru_cache

from django.contrib.auth.models import Group, Permission

RELEASE_MANAGER = "release_manager"
CHANGE_MANAGER = "change_manager"
OPS = "ops"
CONFIGURATION_MANAGER = "configuration_manager"
AUDITOR = "auditor"
INTEGRATION = "integration"


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    permissions: tuple[str, ...]


ACTIONS: tuple[Action, ...] = (
    Action(
        "read",
        "View releases, the CMDB, DSL, DHS and KPIs",
        ("releases.view_*", "cmdb.view_*", "dsl_dhs.view_*", "kpis.view_*"),
    ),
    Action("read_audit", "Read the audit log", ("core.view_auditevent",)),
    Action(
        "plan_releases",
        "Create releases and edit their plans; plan, replan, build, run and sign off tests, accept",
        (
            "releases.add_release",
            "releases.change_release",
            "releases.add_releaseitem",
            "releases.change_releaseitem",
            "releases.delete_releaseitem",
            "releases.add_releasetarget",
            "releases.change_releasetarget",
            "releases.delete_releasetarget",
            "releases.add_failurecondition",
            "releases.change_failurecondition",
            "releases.delete_failurecondition",
            "releases.add_backoutstep",
            "releases.change_backoutstep",
            "releases.delete_backoutstep",
            "releases.plan_release",
            "releases.build_release",
            "releases.test_release",
            "releases.accept_release",
        ),
    ),
    Action(
        "drive_rollout",
        "Plan the roll-out, start distribution and installation, review and close",
        ("releases.plan_rollout_release", "releases.deploy_release", "releases.review_release"),
    ),
    Action(
        "verify_releases",
        "Verify releases against the plan, the CMDB and the licences",
        ("releases.verify_release",),
    ),
    Action(
        "cancel_releases",
        "Cancel releases that have not started deploying",
        ("releases.cancel_release",),
    ),
    Action(
        "manage_changes",
        "Record and update change requests; maintain release categories and units",
        (
            "releases.add_changerequest",
            "releases.change_changerequest",
            "releases.[acd]*_releasecategory",
            "releases.[acd]*_unitcomponent",
        ),
    ),
    Action(
        "manage_webhooks",
        "Manage change-management webhook sources and their secrets; replay deliveries",
        ("releases.[acd]*_webhooksource", "releases.replay_webhookdelivery"),
    ),
    Action(
        "freeze_windows",
        "Declare freeze windows",
        (
            "releases.add_freezewindow",
            "releases.change_freezewindow",
            "releases.delete_freezewindow",
        ),
    ),
    Action(
        "override_freeze",
        "Start installations inside a freeze window (emergency, with a reason)",
        ("releases.override_freeze",),
    ),
    Action(
        "report_deployment",
        "Fetch agent work; report distribution, installation, back-out and health results",
        ("releases.report_deployment",),
    ),
    Action("approve_backout", "Approve a back-out", ("releases.approve_backout",)),
    Action(
        "override_backout",
        "Confirm someone else's back-out override (never one's own)",
        ("releases.override_backout",),
    ),
    Action(
        "maintain_cmdb",
        "Maintain the CMDB, DSL and DHS (CIs, relationships, installed software, licences, software, hardware stock), import CSV",
        (
            "cmdb.add_*",
            "cmdb.change_*",
            "cmdb.delete_*",
            "dsl_dhs.add_*",
            "dsl_dhs.change_*",
            "dsl_dhs.delete_*",
        ),
    ),
    Action(
        "authorise_software",
        "Authorise, quarantine or retire DSL software versions",
        ("dsl_dhs.authorise_softwareversion",),
    ),
    Action("resolve_errors", "Resolve CMDB and licence errors", ("cmdb.resolve_discrepancy",)),
    Action("download_artefacts", "Download DSL artefacts", ("dsl_dhs.download_softwareversion",)),
    Action(
        "reserve_hardware",
        "Reserve DHS hardware, consume or return reservations",
        ("dsl_dhs.add_reservation", "dsl_dhs.change_reservation"),
    ),
    Action("own_tokens", "Create and revoke own API tokens", ("accounts.add_apitoken",)),
)

ROLES: dict[str, tuple[str, ...]] = {
    RELEASE_MANAGER: (
        "read",
        "read_audit",
        "plan_releases",
        "drive_rollout",
        "verify_releases",
        "cancel_releases",
        "manage_changes",
        "freeze_windows",
        # an emergency install is an install: whoever may install takes it, with a reason
        "override_freeze",
        "download_artefacts",
        "reserve_hardware",
        "own_tokens",
    ),
    CHANGE_MANAGER: (
        "read",
        "read_audit",
        "cancel_releases",
        "manage_changes",
        "manage_webhooks",
        "freeze_windows",
        "own_tokens",
    ),
    OPS: (
        "read",
        "read_audit",
        "approve_backout",
        "override_backout",
        "download_artefacts",
        "own_tokens",
    ),
    CONFIGURATION_MANAGER: (
        "read",
        "read_audit",
        "verify_releases",
        "maintain_cmdb",
        "authorise_software",
        "resolve_errors",
        "download_artefacts",
        "reserve_hardware",
        "own_tokens",
    ),
    AUDITOR: ("read", "read_audit"),
    INTEGRATION: ("read", "report_deployment", "download_artefacts", "own_tokens"),
}

ROLE_LABELS = {
    RELEASE_MANAGER: "Release manager",
    CHANGE_MANAGER: "Change manager",
    OPS: "Ops (back-out approver)",
    CONFIGURATION_MANAGER: "Configuration manager",
    AUDITOR: "Auditor (read-only)",
    INTEGRATION: "Integration service account",
}

_ACTIONS_BY_KEY = {action.key: action for action in ACTIONS}


def patterns_for(role: str) -> list[str]:
    return [perm for key in ROLES[role] for perm in _ACTIONS_BY_KEY[key].permissions]


def _matches(codename: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(codename, pattern) for pattern in patterns)


def apply_roles(group_model, permission_model) -> None:
    """Create the role groups and give each exactly the permissions its actions grant."""
    all_perms = list(
        permission_model.objects.select_related("content_type").values_list(
            "id", "content_type__app_label", "codename"
        )
    )
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        patterns = patterns_for(role)
        wanted = {pk for pk, app, code in all_perms if _matches(f"{app}.{code}", patterns)}
        group.permissions.set(wanted)


def sync_role_groups(sender=None, **kwargs) -> None:
    apply_roles(Group, Permission)


@cache
def _action_grants() -> dict[str, frozenset[str]]:
    """Each action's patterns expanded to the permissions they grant ("app.codename"). Read once a
    process: permissions change only with migrations."""
    every = [
        f"{app}.{code}"
        for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    ]
    return {
        action.key: frozenset(perm for perm in every if _matches(perm, list(action.permissions)))
        for action in ACTIONS
    }


@lru_cache(maxsize=256)
def _actions_held(held: frozenset[str]) -> tuple[Action, ...]:
    grants = _action_grants()
    return tuple(action for action in ACTIONS if grants[action.key] and grants[action.key] <= held)


def actions_for(user) -> list[Action]:
    """The actions ``user`` may take in full (all of them for a superuser): an action counts only
    when every permission it grants is held — one shared permission (a release manager's hardware
    reservations under "Maintain the … DHS") does not make the whole action."""
    if user.is_superuser:
        return list(ACTIONS)
    return list(_actions_held(frozenset(user.get_all_permissions())))


def matrix_markdown() -> str:
    """The permission matrix as the README shows it."""
    header = "| Action | " + " | ".join(f"`{role}`" for role in ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [
        f"| {action.label} | "
        + " | ".join("✓" if action.key in ROLES[role] else "" for role in ROLES)
        + " |"
        for action in ACTIONS
    ]
    return "\n".join([header, rule, *rows])
