"""Level semantics are computed from the unit's baseline, not labels."""

import pytest

from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releases import choices, services
from releases.choices import (
    Outcome,
    ReleaseLevel,
    ReleaseState,
    RolloutTaskStatus,
)
from releases.models import ReleaseItem
from tests.factories import (
    ChangeRequestFactory,
    ConfigurationItemFactory,
    ReleaseCategoryFactory,
    ReleaseFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UnitComponentFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(role_user):
    return role_user("release_manager")


@pytest.fixture
def unit_with_baseline():
    """A unit with two components whose last closed release installed v1 of each."""
    unit = ConfigurationItemFactory(service=True, identifier="billing")
    app, db = (
        SoftwareProductFactory(name="Billing app"),
        SoftwareProductFactory(name="Billing schema"),
    )
    for product in (app, db):
        UnitComponentFactory(unit=unit, product=product)
    v1 = {p.pk: SoftwareVersionFactory(product=p, version="1.0") for p in (app, db)}
    closed = ReleaseFactory(release_unit=unit, state=ReleaseState.CLOSED, outcome=Outcome.COMPLETED)
    for version in v1.values():
        ReleaseItem.objects.create(release=closed, kind="software", software_version=version)
    return unit, app, db, v1


def test_baseline_is_the_last_completed_release(unit_with_baseline):
    unit, app, _db, v1 = unit_with_baseline
    backed_out = ReleaseFactory(
        release_unit=unit, state=ReleaseState.CLOSED, outcome=Outcome.BACKED_OUT
    )
    ReleaseItem.objects.create(
        release=backed_out,
        kind="software",
        software_version=SoftwareVersionFactory(product=app, version="9.9"),
    )
    assert services.release_baseline(unit.pk) == v1


def test_delta_refuses_an_unchanged_item_naming_it(unit_with_baseline, manager):
    unit, app, _db, v1 = unit_with_baseline
    release = ReleaseFactory(release_unit=unit, level=ReleaseLevel.DELTA)
    with pytest.raises(DomainValidationError) as refused:
        services.release_item_add(release=release, by=manager, software_version=v1[app.pk])
    message = refused.value.message["items"]["Billing app 1.0"]
    assert "unchanged since the last release of billing" in message
    item = services.release_item_add(
        release=release,
        by=manager,
        software_version=SoftwareVersionFactory(product=app, version="1.1"),
    )
    assert (
        item.changed and item.replaces_version == v1[app.pk] and item.restore_version == v1[app.pk]
    )


def test_items_must_be_components_of_the_unit(unit_with_baseline, manager):
    unit, *_ = unit_with_baseline
    release = ReleaseFactory(release_unit=unit)
    with pytest.raises(DomainValidationError) as refused:
        services.release_item_add(
            release=release, by=manager, software_version=SoftwareVersionFactory()
        )
    assert "is not a component of billing" in str(refused.value.message)


def test_full_release_is_filled_with_every_component(unit_with_baseline, manager):
    unit, _app, _db, v1 = unit_with_baseline
    release = services.release_create(
        by=manager, title="Full", level=ReleaseLevel.FULL, release_unit=unit
    )
    items = {item.software_version for item in release.items.all()}
    assert items == set(v1.values())
    assert not any(item.changed for item in release.items.all())


def test_full_release_must_carry_every_component_to_plan(unit_with_baseline, manager):
    unit, app, _db, v1 = unit_with_baseline
    release = ReleaseFactory(release_unit=unit, level=ReleaseLevel.FULL, planned=True)
    ReleaseItem.objects.filter(release=release).delete()
    ReleaseItem.objects.create(release=release, kind="software", software_version=v1[app.pk])
    assert (
        "A Full release carries every component: Billing schema is missing."
        in release.plan_problems()
    )


def _scope(release):
    return sorted((t.kind, t.result) for t in services.compute_test_scope(release))


def test_delta_scope_is_the_changed_items_plus_rehearsal(unit_with_baseline):
    unit, app, _db, _v1 = unit_with_baseline
    release = ReleaseFactory(release_unit=unit, level=ReleaseLevel.DELTA)
    ReleaseItem.objects.create(
        release=release,
        kind="software",
        software_version=SoftwareVersionFactory(product=app),
        changed=True,
    )
    assert _scope(release) == [
        (choices.TestKind.BACKOUT_REHEARSAL, choices.TestResult.PENDING),
        (choices.TestKind.CHANGED_ITEM, choices.TestResult.PENDING),
    ]


def test_package_scope_adds_an_integration_check(unit_with_baseline):
    unit, app, db, _v1 = unit_with_baseline
    release = ReleaseFactory(release_unit=unit, level=ReleaseLevel.PACKAGE)
    first, second = ChangeRequestFactory(), ChangeRequestFactory()
    release.change_requests.add(first, second)
    ReleaseItem.objects.create(
        release=release,
        kind="software",
        software_version=SoftwareVersionFactory(product=app),
        change_request=first,
    )
    ReleaseItem.objects.create(
        release=release,
        kind="software",
        software_version=SoftwareVersionFactory(product=db),
        change_request=second,
    )
    scope = services.compute_test_scope(release)
    assert sorted(t.kind for t in scope) == [
        choices.TestKind.BACKOUT_REHEARSAL,
        choices.TestKind.CHANGED_ITEM,
        choices.TestKind.CHANGED_ITEM,
        choices.TestKind.INTEGRATION,
    ]
    assert first.number in next(t.title for t in scope if t.kind == choices.TestKind.INTEGRATION)


def test_package_needs_several_changes():
    release = ReleaseFactory(level=ReleaseLevel.PACKAGE, planned=True)
    release.change_requests.add(ChangeRequestFactory())
    assert (
        "A Package release bundles several change requests: link at least two."
        in release.plan_problems()
    )


def test_full_scope_is_every_component(unit_with_baseline, manager):
    unit, *_ = unit_with_baseline
    release = services.release_create(
        by=manager, title="Full", level=ReleaseLevel.FULL, release_unit=unit
    )
    assert [t.kind for t in services.compute_test_scope(release)].count(
        choices.TestKind.COMPONENT
    ) == 2


def test_rehearsal_is_waived_only_by_category_policy():
    release = ReleaseFactory(
        category=ReleaseCategoryFactory(name="Antivirus definitions", waives_backout_rehearsal=True)
    )
    rehearsal = [
        t
        for t in services.compute_test_scope(release)
        if t.kind == choices.TestKind.BACKOUT_REHEARSAL
    ]
    assert [t.result for t in rehearsal] == [choices.TestResult.WAIVED]


def test_walk_from_requested_to_verified_with_sign_offs(manager):
    # given: a complete plan
    release = ReleaseFactory(
        planned=True, category=ReleaseCategoryFactory(name="Standard", waives_training=True)
    )

    # when / then
    for name in ("plan", "build", "start_tests"):
        release = services.release_transition(release=release, name=name, by=manager)
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="accept", by=manager)
    assert "pending" in refused.value.message
    for test in release.test_scope.all():
        with pytest.raises(DomainValidationError):
            services.test_item_sign_off(item=test, result=choices.TestResult.WAIVED, by=manager)
        services.test_item_sign_off(
            item=test,
            result=choices.TestResult.PASSED,
            by=manager,
            evidence="ran it in test: baseline restored",
        )
    release = services.release_transition(release=release, name="accept", by=manager)
    release = services.release_transition(release=release, name="plan_rollout", by=manager)
    tasks = {t.kind: t.status for t in release.rollout_tasks.all()}
    assert tasks == {
        "communication": RolloutTaskStatus.PENDING,
        "training": RolloutTaskStatus.WAIVED,
    }
    with pytest.raises(DomainConflict):
        services.release_transition(release=release, name="verify", by=manager)
    services.rollout_task_complete(task=release.rollout_tasks.get(kind="communication"), by=manager)
    release = services.release_transition(release=release, name="verify", by=manager)
    assert release.state == ReleaseState.VERIFIED
    assert list(release.transitions.values_list("name", flat=True)) == [
        "plan",
        "build",
        "start_tests",
        "accept",
        "plan_rollout",
        "verify",
    ]


def test_rehearsal_needs_evidence(manager):
    release = ReleaseFactory(planned=True)
    for name in ("plan", "build", "start_tests"):
        release = services.release_transition(release=release, name=name, by=manager)
    rehearsal = release.test_scope.get(kind=choices.TestKind.BACKOUT_REHEARSAL)
    with pytest.raises(DomainValidationError):
        services.test_item_sign_off(
            item=rehearsal, result=choices.TestResult.PASSED, by=manager, evidence=""
        )


def test_replan_resets_sign_offs_and_reopens_the_plan(manager):
    release = ReleaseFactory(planned=True)
    for name in ("plan", "build", "start_tests"):
        release = services.release_transition(release=release, name=name, by=manager)
    with pytest.raises(DomainConflict):
        services.release_backout_plan_set(release=release, steps=["changed"], by=manager)
    release = services.release_transition(
        release=release, name="replan", by=manager, reason="scope grew"
    )
    assert release.state == ReleaseState.PLANNED and not release.test_scope.exists()
    services.release_backout_plan_set(release=release, steps=["changed"], by=manager)


def test_build_refuses_a_version_no_longer_authorised(manager):
    release = ReleaseFactory(planned=True)
    release = services.release_transition(release=release, name="plan", by=manager)
    release.items.first().software_version.__class__.objects.update(status="quarantined")
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="build", by=manager)
    assert "is not an authorised DSL version" in refused.value.message


def test_release_create_from_change_is_idempotent():
    change = ChangeRequestFactory(number="CHG0031234", title="Upgrade billing to 3.6")
    release = services.release_create_from_change(change=change)
    again = services.release_create_from_change(change=change)
    assert release == again
    assert (release.state, release.trigger, release.trigger_reference) == (
        "requested",
        "change_request",
        "CHG0031234",
    )
    assert release.number.startswith("REL-")


def test_change_upsert_ignores_older_deliveries():
    change, _ = services.change_request_upsert(
        source_system="snow", external_id="abc", source_version="5", number="CHG1", title="v5"
    )
    _, changed = services.change_request_upsert(
        source_system="snow", external_id="abc", source_version="4", number="CHG1", title="v4"
    )
    change.refresh_from_db()
    assert (changed, change.title) == (False, "v5")
    _, changed = services.change_request_upsert(
        source_system="snow", external_id="abc", source_version="6", number="CHG1", title="v6"
    )
    change.refresh_from_db()
    assert (changed, change.title) == (True, "v6")


def test_numbers_are_sequential_per_year(manager):
    first = services.release_create(by=manager, title="a", level="delta")
    second = services.release_create(by=manager, title="b", level="delta")
    assert int(second.number[-4:]) == int(first.number[-4:]) + 1


def test_release_unit_must_be_a_service_or_application(manager):
    with pytest.raises(DomainValidationError):
        services.release_create(
            by=manager, title="x", level="delta", release_unit=ConfigurationItemFactory()
        )
