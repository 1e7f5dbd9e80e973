"""Creating releases and editing their plan. The plan is editable in ``requested`` and
``planned`` only; afterwards it changes through ``replan``."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cmdb.choices import SERVICE_KINDS
from dsl_dhs.choices import VersionStatus
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.services import audit_record, record_save
from releases.choices import (
    DistributionMethod,
    FailureConditionKind,
    ReleaseLevel,
    RolloutTaskKind,
    RolloutTaskStatus,
    TestKind,
    TestResult,
)
from releases.models import (
    BackoutStep,
    ChangeRequest,
    FailureCondition,
    Release,
    ReleaseItem,
    ReleaseNumberSequence,
    ReleaseTarget,
    RolloutTask,
    TestScopeItem,
)
from releases.services import policies
from releases.services.levels import (
    is_changed,
    level_problems,
    release_baseline,
    release_fill_full_contents,
)

PLAN_FIELDS = (
    "title",
    "description",
    "level",
    "category",
    "release_unit",
    "owner",
    "trigger",
    "trigger_reference",
    "project_key",
    "project_url",
    "distribution_start",
    "distribution_end",
    "installation_start",
    "installation_end",
    "backout_decision_minutes",
    "distribution_method",
    "deployment_tool",
    "installation_mode",
    "wave_size",
    "wave_interval_minutes",
    "login_threshold",
)


def _next_number(now: datetime) -> str:
    sequence, _ = ReleaseNumberSequence.objects.select_for_update().get_or_create(year=now.year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return f"REL-{now.year}-{sequence.last:04d}"


def _check_unit(unit) -> None:
    if unit is not None and unit.kind not in SERVICE_KINDS:
        raise DomainValidationError(
            {
                "release_unit": f"{unit} is a {unit.get_kind_display().lower()}; choose a service or application."
            }
        )


def _check_deployment_tool(release: Release) -> None:
    """A deployment tool distributes and reports back: it must be named (400 otherwise)."""
    if (
        release.distribution_method == DistributionMethod.DEPLOYMENT_TOOL
        and not (release.deployment_tool or "").strip()
    ):
        raise DomainValidationError(
            {"deployment_tool": "Name the deployment tool that reports back."}
        )


@transaction.atomic
def release_create(*, by, title: str, level: str, change_requests=(), **fields) -> Release:
    """Create a release in ``requested`` with the next number (REL-YYYY-NNNN). A Full release
    is filled with every component of its unit. Distributed by a deployment tool, it names the
    tool (400 otherwise)."""
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise DomainValidationError({name: "Unknown field." for name in unknown})
    _check_unit(fields.get("release_unit"))
    release = Release(
        title=title,
        level=level,
        created_by=by if getattr(by, "is_authenticated", False) else None,
        **fields,
    )
    _check_deployment_tool(release)
    if release.owner is None and getattr(by, "is_authenticated", False):
        release.owner = by
    _check_not_cancelled(change_requests)
    release.number = _next_number(timezone.now())
    record_save(instance=release, actor=by, action="release.create")
    if change_requests:
        release.change_requests.set(change_requests)
    release_fill_full_contents(release=release)
    return release


def _check_not_cancelled(change_requests) -> None:
    """A release is not started for a change that was cancelled (400 naming it); one already
    linked stays linked (the change manager's dashboard shows it)."""
    ids = [getattr(change, "pk", change) for change in change_requests]
    cancelled = list(
        ChangeRequest.objects.filter(pk__in=ids).cancelled().values_list("number", flat=True)
    )
    if cancelled:
        raise DomainValidationError(
            {
                "change_requests": f"{', '.join(sorted(cancelled))} "
                f"{'was' if len(cancelled) == 1 else 'were'} cancelled: no release is made for a "
                "cancelled change."
            }
        )


def _locked_editable(release: Release) -> Release:
    release = Release.objects.select_for_update().get(pk=release.pk)
    if not release.is_editable:
        raise DomainConflict(
            f"The plan of {release.number} is frozen ({release.get_state_display().lower()}); replan it to change it.",
            extra={"state": release.state},
        )
    return release


@transaction.atomic
def release_update_plan(*, release: Release, by, change_requests=None, **fields) -> Release:
    """Change plan fields while the plan is editable (409 once frozen). A change of how the
    release is distributed leaves a deployment tool named (400 otherwise)."""
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise DomainValidationError({name: "Unknown field." for name in unknown})
    release = _locked_editable(release)
    if "release_unit" in fields:
        _check_unit(fields["release_unit"])
    for name, value in fields.items():
        setattr(release, name, value)
    if {"distribution_method", "deployment_tool"} & set(fields):
        _check_deployment_tool(release)
    record_save(instance=release, actor=by, action="release.update_plan")
    if change_requests is not None:
        linked = set(release.change_requests.values_list("pk", flat=True))
        _check_not_cancelled([c for c in change_requests if getattr(c, "pk", c) not in linked])
        release.change_requests.set(change_requests)
    if {"level", "release_unit"} & set(fields):
        _recompute_changed(release)
        release_fill_full_contents(release=release)
    return release


def _recompute_changed(release: Release) -> None:
    baseline = release_baseline(release.release_unit_id, exclude_release_id=release.pk)
    for item in release.items.filter(software_version__isnull=False).select_related(
        "software_version"
    ):
        changed = baseline.get(item.software_version.product_id) != item.software_version
        if item.changed != changed:
            item.changed = changed
            item.save(update_fields=["changed"])


@transaction.atomic
def release_item_add(
    *,
    release: Release,
    by,
    software_version=None,
    hardware_model=None,
    quantity: int = 1,
    replaces_version=None,
    restore_version=None,
    change_request=None,
) -> ReleaseItem:
    """Add a DSL version or DHS hardware to the contents. Contents that contradict the level are
    refused (400 naming the item); only authorised versions may enter."""
    release = _locked_editable(release)
    if (software_version is None) == (hardware_model is None):
        raise DomainValidationError(
            {"software_version": "Give either a software version or a hardware model."}
        )
    if software_version is not None:
        if software_version.status != VersionStatus.AUTHORISED:
            raise DomainValidationError(
                {
                    "software_version": f"{software_version} is {software_version.get_status_display().lower()}; only authorised versions can enter a release."
                }
            )
        current = list(
            release.items.filter(software_version__isnull=False).select_related(
                "software_version__product"
            )
        )
        same_product = next(
            (i for i in current if i.software_version.product_id == software_version.product_id),
            None,
        )
        if same_product is not None and release.level == ReleaseLevel.FULL:
            # A Full release already carries every component: choosing a version replaces it.
            current.remove(same_product)
            same_product.delete()
        problems = level_problems(
            release, [item.software_version for item in current] + [software_version]
        )
        if problems:
            raise DomainValidationError({"items": problems})
        baseline = release_baseline(release.release_unit_id, exclude_release_id=release.pk)
        replaces_version = replaces_version or baseline.get(software_version.product_id)
        item = ReleaseItem(
            release=release,
            kind="software",
            software_version=software_version,
            replaces_version=replaces_version,
            restore_version=restore_version or replaces_version,
            change_request=change_request,
            changed=is_changed(release, software_version),
        )
    else:
        if quantity < 1:
            raise DomainValidationError({"quantity": "Give at least one unit."})
        item = ReleaseItem(
            release=release,
            kind="hardware",
            hardware_model=hardware_model,
            quantity=quantity,
            change_request=change_request,
        )
    if (
        change_request is not None
        and not release.change_requests.filter(pk=change_request.pk).exists()
    ):
        raise DomainValidationError(
            {"change_request": f"{change_request.number} is not linked to {release.number}."}
        )
    return record_save(instance=item, actor=by, action="release.item_add")


@transaction.atomic
def release_item_remove(*, item: ReleaseItem, by) -> None:
    _locked_editable(item.release)
    audit_record(
        actor=by, action="release.item_remove", target=item.release, before={"item": str(item)}
    )
    item.delete()


@transaction.atomic
def release_targets_set(*, release: Release, cis, by) -> list[ReleaseTarget]:
    """Replace the target CIs (in bulk). Retired CIs cannot be targets."""
    release = _locked_editable(release)
    cis = list(cis)
    retired = [str(ci) for ci in cis if ci.status == "retired"]
    if retired:
        raise DomainValidationError(
            {"targets": f"Retired CIs cannot be targets: {', '.join(retired)}."}
        )
    before_ids = sorted(release.targets.values_list("ci__identifier", flat=True))
    release.targets.all().delete()
    targets = ReleaseTarget.objects.bulk_create(
        [ReleaseTarget(release=release, ci=ci) for ci in {ci.pk: ci for ci in cis}.values()]
    )
    Release.objects.filter(pk=release.pk).update(count_targets=len(targets))
    audit_record(
        actor=by,
        action="release.targets_set",
        target=release,
        before={"targets": before_ids},
        after={"targets": sorted(ci.identifier for ci in cis)},
    )
    return targets


@transaction.atomic
def release_failure_condition_add(
    *, release: Release, by, kind: str, threshold=None, parameters=None, description: str = ""
) -> FailureCondition:
    release = _locked_editable(release)
    if (
        kind
        in (FailureConditionKind.FAILURE_RATE_ABOVE, FailureConditionKind.FAILED_TARGETS_AT_LEAST)
        and threshold is None
    ):
        raise DomainValidationError({"threshold": "This condition needs a threshold."})
    if kind == FailureConditionKind.FAILURE_RATE_ABOVE and not 0 <= threshold < 100:
        raise DomainValidationError(
            {"threshold": "A failure rate threshold is a percentage from 0 to 99.99."}
        )
    if kind == FailureConditionKind.FAILED_TARGETS_AT_LEAST and threshold < 1:
        raise DomainValidationError({"threshold": "Give a count of at least 1."})
    if kind == FailureConditionKind.HEALTH_SIGNAL_FAILED and not (parameters or {}).get("signal"):
        raise DomainValidationError({"parameters": 'Name the health signal: {"signal": "…"}.'})
    condition = FailureCondition(
        release=release,
        kind=kind,
        threshold=threshold,
        parameters=parameters or {},
        description=description,
    )
    return record_save(instance=condition, actor=by, action="release.failure_condition_add")


@transaction.atomic
def release_failure_condition_remove(*, condition: FailureCondition, by) -> None:
    _locked_editable(condition.release)
    audit_record(
        actor=by,
        action="release.failure_condition_remove",
        target=condition.release,
        before={"condition": str(condition)},
    )
    condition.delete()


@transaction.atomic
def release_backout_plan_set(*, release: Release, steps: list[str], by) -> list[BackoutStep]:
    """Replace the back-out plan's steps."""
    release = _locked_editable(release)
    steps = [step.strip() for step in steps if step and step.strip()]
    if not steps:
        raise DomainValidationError({"backout_steps": "Write at least one back-out step."})
    release.backout_steps.all().delete()
    created = BackoutStep.objects.bulk_create(
        [
            BackoutStep(release=release, position=i, description=text)
            for i, text in enumerate(steps, start=1)
        ]
    )
    audit_record(
        actor=by, action="release.backout_plan_set", target=release, after={"steps": steps}
    )
    return created


@transaction.atomic
def test_item_sign_off(
    *, item: TestScopeItem, result: str, by, evidence: str = ""
) -> TestScopeItem:
    """Record a test result (passed or failed, with evidence) while the release is in testing —
    in a four-eyes category by someone other than the release's owner (409). Waivers come only
    from the category policy."""
    if not by.has_perm("releases.test_release"):
        raise DomainPermissionDenied("You do not have the permission to sign off release tests.")
    release = Release.objects.select_for_update().get(pk=item.release_id)
    if release.state != "testing":
        raise DomainConflict(
            f"{release.number} is not in testing; tests are signed off while testing."
        )
    policies.four_eyes_check(release, by, doing=policies.SIGN_OFF_DOING)
    item = TestScopeItem.objects.select_for_update().get(pk=item.pk)
    if result not in (TestResult.PASSED, TestResult.FAILED):
        raise DomainValidationError(
            {"result": "Record passed or failed; waivers come from the category policy."}
        )
    if item.result == TestResult.WAIVED:
        raise DomainConflict("This test is waived by the category policy.")
    if (
        item.kind == TestKind.BACKOUT_REHEARSAL
        and result == TestResult.PASSED
        and not evidence.strip()
    ):
        raise DomainValidationError(
            {"evidence": "Say how the back-out was rehearsed and that the baseline was restored."}
        )
    before_result = item.result
    item.result, item.evidence = result, evidence.strip()
    item.signed_off_by, item.signed_off_at = by, timezone.now()
    item.save(update_fields=["result", "evidence", "signed_off_by", "signed_off_at"])
    audit_record(
        actor=by,
        action="release.test_sign_off",
        target=release,
        before={"test": item.title, "result": before_result},
        after={"test": item.title, "result": result, "evidence": item.evidence},
    )
    return item


def rollout_tasks_create(release: Release, by) -> None:
    """Before ``plan_rollout``: the communication and training tasks (waived as the category says)."""
    category = release.category
    tasks = []
    for kind, waived, text in (
        (
            RolloutTaskKind.COMMUNICATION,
            category is not None and category.waives_communication,
            "Tell the users and the service desk what changes and when",
        ),
        (
            RolloutTaskKind.TRAINING,
            category is not None and category.waives_training,
            "Train the users and support staff on what changes",
        ),
    ):
        if not release.rollout_tasks.filter(kind=kind).exists():
            tasks.append(
                RolloutTask(
                    release=release,
                    kind=kind,
                    description=text,
                    status=RolloutTaskStatus.WAIVED if waived else RolloutTaskStatus.PENDING,
                )
            )
    RolloutTask.objects.bulk_create(tasks)


@transaction.atomic
def rollout_task_complete(*, task: RolloutTask, by) -> RolloutTask:
    """Mark a communication or training task done (once the roll-out is planned)."""
    if not by.has_perm("releases.plan_rollout_release"):
        raise DomainPermissionDenied("You do not have the permission to complete roll-out tasks.")
    task = RolloutTask.objects.select_for_update().select_related("release").get(pk=task.pk)
    if task.release.state != "rollout_planned":
        raise DomainConflict("Roll-out tasks are completed while the roll-out is planned.")
    if task.status != RolloutTaskStatus.PENDING:
        raise DomainConflict(f"This task is already {task.get_status_display().lower()}.")
    task.status, task.done_by, task.done_at = RolloutTaskStatus.DONE, by, timezone.now()
    task.save(update_fields=["status", "done_by", "done_at"])
    audit_record(
        actor=by, action="release.rollout_task_done", target=task.release, after={"task": str(task)}
    )
    return task
