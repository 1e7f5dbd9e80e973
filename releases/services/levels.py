"""Release levels are computed, not labels: the baseline of the release unit decides what
changed, what a Delta may carry, what a Full must carry, and how much testing is enough."""

from django.db import transaction

from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import SoftwareVersion
from releases.choices import ItemKind, Outcome, ReleaseLevel, ReleaseState, TestKind, TestResult
from releases.models import Release, ReleaseItem, TestScopeItem, UnitComponent


def release_baseline(
    unit_id: int | None, *, exclude_release_id: int | None = None
) -> dict[int, SoftwareVersion]:
    """``{product_id: version}`` installed by the last release of the unit that closed as
    completed (a backed-out release installed nothing). Empty when there is none."""
    if unit_id is None:
        return {}
    last = (
        Release.objects.filter(
            release_unit_id=unit_id, state=ReleaseState.CLOSED, outcome=Outcome.COMPLETED
        )
        .exclude(pk=exclude_release_id)
        .order_by("-state_changed_at", "-pk")
        .first()
    )
    if last is None:
        return {}
    items = last.items.filter(kind=ItemKind.SOFTWARE).select_related("software_version__product")
    return {item.software_version.product_id: item.software_version for item in items}


def unit_component_product_ids(unit_id: int | None) -> set[int]:
    if unit_id is None:
        return set()
    return set(UnitComponent.objects.filter(unit_id=unit_id).values_list("product_id", flat=True))


def level_problems(release: Release, versions: list[SoftwareVersion]) -> dict[str, str]:
    """Contents that contradict the level, ``{item: message}`` — empty when they fit."""
    baseline = release_baseline(release.release_unit_id, exclude_release_id=release.pk)
    components = unit_component_product_ids(release.release_unit_id)
    problems = {}
    seen = set()
    for version in versions:
        label = str(version)
        if version.product_id in seen:
            problems[label] = (
                f"{version.product} appears twice; a release carries one version per product."
            )
        seen.add(version.product_id)
        if components and version.product_id not in components:
            problems[label] = f"{version.product} is not a component of {release.release_unit}."
        elif (
            release.level in (ReleaseLevel.DELTA, ReleaseLevel.PACKAGE)
            and baseline.get(version.product_id) == version
        ):
            problems[label] = (
                f"{label} is unchanged since the last release of {release.release_unit}; "
                f"a {release.get_level_display()} release carries only changed items."
            )
    return problems


def is_changed(release: Release, version: SoftwareVersion) -> bool:
    baseline = release_baseline(release.release_unit_id, exclude_release_id=release.pk)
    return baseline.get(version.product_id) != version


@transaction.atomic
def release_fill_full_contents(*, release: Release) -> list[ReleaseItem]:
    """A Full release carries every component: add each missing one at its baseline version
    (or its newest authorised version when there is no baseline)."""
    if release.level != ReleaseLevel.FULL or release.release_unit_id is None:
        return []
    baseline = release_baseline(release.release_unit_id, exclude_release_id=release.pk)
    present = set(
        release.items.filter(kind=ItemKind.SOFTWARE).values_list(
            "software_version__product_id", flat=True
        )
    )
    added = []
    for product_id in sorted(unit_component_product_ids(release.release_unit_id) - present):
        version = baseline.get(product_id) or (
            SoftwareVersion.objects.filter(product_id=product_id, status=VersionStatus.AUTHORISED)
            .order_by("-created_at")
            .first()
        )
        if version is None:
            continue
        added.append(
            ReleaseItem.objects.create(
                release=release,
                kind=ItemKind.SOFTWARE,
                software_version=version,
                replaces_version=baseline.get(product_id),
                restore_version=baseline.get(product_id),
                changed=baseline.get(product_id) != version,
            )
        )
    return added


def compute_test_scope(release: Release) -> list[TestScopeItem]:
    """The test scope the level needs, plus the back-out rehearsal (waived only by category)."""
    items = list(
        release.items.select_related(
            "software_version__product", "hardware_model", "change_request"
        )
    )
    scope: list[TestScopeItem] = []
    if release.level == ReleaseLevel.FULL:
        scope += [
            TestScopeItem(
                release=release, kind=TestKind.COMPONENT, item=item, title=f"Regression: {item}"
            )
            for item in items
        ]
    else:
        for item in items:
            if not item.changed:
                continue
            change = f" ({item.change_request.number})" if item.change_request else ""
            scope.append(
                TestScopeItem(
                    release=release,
                    kind=TestKind.CHANGED_ITEM,
                    item=item,
                    title=f"Changed: {item}{change}",
                )
            )
        if release.level == ReleaseLevel.PACKAGE:
            changes = ", ".join(
                release.change_requests.order_by("number").values_list("number", flat=True)
            )
            scope.append(
                TestScopeItem(
                    release=release,
                    kind=TestKind.INTEGRATION,
                    title=f"Integration of the bundled changes {changes}",
                )
            )
    waived = release.category is not None and release.category.waives_backout_rehearsal
    scope.append(
        TestScopeItem(
            release=release,
            kind=TestKind.BACKOUT_REHEARSAL,
            title="Back-out rehearsal: the back-out plan was exercised in test and restored the baseline",
            result=TestResult.WAIVED if waived else TestResult.PENDING,
        )
    )
    return scope


def test_scope_create(release: Release, by) -> None:
    """Before ``start_tests``: the test scope, computed from the level, replaces any earlier one."""
    release.test_scope.all().delete()
    TestScopeItem.objects.bulk_create(compute_test_scope(release))


def preparations_reset(release: Release, by) -> None:
    """Before ``replan``: a changed plan invalidates sign-offs and roll-out preparations."""
    release.test_scope.all().delete()
    release.rollout_tasks.all().delete()
