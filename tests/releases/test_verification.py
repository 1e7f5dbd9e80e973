"""The verification engine: each kind of mismatch becomes a CMDB or licence error, blocks
``verify`` (the release goes to ``verification_failed``), and a re-run after the fix passes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cmdb.choices import ErrorSource
from cmdb.models import Discrepancy
from releases import services
from releases.choices import ReleaseState
from releases.models import ReleaseItem, ReleaseTarget
from tests.factories import (
    ConfigurationItemFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    ReleaseFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    StockFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(role_user):
    return role_user("configuration_manager")


@pytest.fixture
def estate():
    """A licensed product at 1.0 on three active servers; 1.1 is to be released."""
    product = SoftwareProductFactory(licensed=True, name="Agent")
    old = SoftwareVersionFactory(product=product, version="1.0")
    new = SoftwareVersionFactory(product=product, version="1.1")
    licence = LicenceFactory(licence_product=product.licence_product, seats=5)
    cis = [ConfigurationItemFactory(identifier=f"app-{n}") for n in range(3)]
    for ci in cis:
        InstalledSoftwareFactory(ci=ci, version=old, licence=licence)
    release = ReleaseFactory(state=ReleaseState.ROLLOUT_PLANNED)
    ReleaseItem.objects.create(
        release=release,
        kind="software",
        software_version=new,
        replaces_version=old,
        restore_version=old,
    )
    ReleaseTarget.objects.bulk_create([ReleaseTarget(release=release, ci=ci) for ci in cis])
    return release, product, old, new, licence, cis


def verify(release, by):
    return services.release_transition(release=release, name="verify", by=by)


def errors_of(release):
    return sorted(
        Discrepancy.objects.filter(reference=release.number, resolved_at__isnull=True).values_list(
            "kind", flat=True
        )
    )


def test_a_clean_release_verifies(estate, manager, django_assert_max_num_queries):
    release, *_ = estate
    release = verify(release, manager)
    assert release.state == ReleaseState.VERIFIED
    run = release.verification_runs.get()
    assert run.passed and run.checks_failed == 0
    assert run.checks_total == 1 + 3 + 3 + 1  # checksum, active x3, from-version x3, licence
    assert errors_of(release) == []


def test_version_mismatch_fails_verification(estate, manager):
    release, product, old, new, licence, cis = estate
    cis[1].installed_software.update(version=SoftwareVersionFactory(product=product, version="0.9"))
    release = verify(release, manager)
    assert release.state == ReleaseState.VERIFICATION_FAILED
    (error,) = Discrepancy.objects.filter(reference=release.number)
    assert (error.kind, error.category, error.source, error.ci) == (
        "version_mismatch",
        "cmdb",
        ErrorSource.VERIFICATION,
        cis[1],
    )
    assert error.expected.startswith("Agent 1.0 installed") and error.found == "Agent 0.9 installed"
    (failed,) = release.verification_runs.get().checks.filter(ok=False)
    assert failed.discrepancy == error  # the report links the check to the error it recorded
    step = release.transitions.get()
    assert (step.name, step.by_name) == ("fail_verification", "system")
    assert manager.username in step.reason


def test_retired_target_is_a_cmdb_error(estate, manager):
    release, product, old, new, licence, cis = estate
    type(cis[0]).objects.filter(pk=cis[0].pk).update(status="retired")
    assert verify(release, manager).state == ReleaseState.VERIFICATION_FAILED
    assert errors_of(release) == ["retired_target"]


def test_seats_exceeded_for_new_installations(estate, manager):
    release, product, old, new, licence, cis = estate
    extra = [ConfigurationItemFactory(identifier=f"new-{n}") for n in range(3)]
    ReleaseItem.objects.filter(release=release).update(replaces_version=None)
    ReleaseTarget.objects.bulk_create([ReleaseTarget(release=release, ci=ci) for ci in extra])
    # 3 CIs already hold seats; 3 new ones need seats but only 2 of 5 are free
    assert verify(release, manager).state == ReleaseState.VERIFICATION_FAILED
    (error,) = Discrepancy.objects.filter(reference=release.number)
    assert (error.kind, error.category, error.expected, error.found) == (
        "seats_exceeded",
        "licence",
        "3 free seat(s) for the new installations",
        "2 free",
    )


def test_expired_licence_is_a_licence_error(estate, manager):
    release, product, old, new, licence, cis = estate
    type(licence).objects.filter(pk=licence.pk).update(
        valid_until=timezone.localdate() - timedelta(days=1)
    )
    assert verify(release, manager).state == ReleaseState.VERIFICATION_FAILED
    assert errors_of(release) == ["licence_expired"]


def test_unauthorised_or_tampered_artefact(estate, manager):
    release, product, old, new, licence, cis = estate
    with new.artefact.open("wb") as handle:
        handle.write(b"tampered")
    assert verify(release, manager).state == ReleaseState.VERIFICATION_FAILED
    (error,) = Discrepancy.objects.filter(reference=release.number)
    assert error.kind == "unauthorised_software" and "SHA-256" in error.found
    new.refresh_from_db()
    assert new.status == "quarantined"


def test_hardware_must_be_reserved(estate, manager):
    release, *_ = estate
    stock = StockFactory(on_hand=4)
    ReleaseItem.objects.create(
        release=release, kind="hardware", hardware_model=stock.hardware_model, quantity=2
    )
    assert verify(release, manager).state == ReleaseState.VERIFICATION_FAILED
    assert errors_of(release) == ["hardware_not_reserved"]
    error = Discrepancy.objects.get(reference=release.number)
    assert error.category == "cmdb" and error.found == "0 reserved"
    from dsl_dhs.services import reservation_create

    release = services.release_transition(release=release, name="replan", by=None)
    assert release.state == ReleaseState.PLANNED
    reservation_create(stock=stock, quantity=2, reference=release.number, by=manager)
    checks = services.run_verification(release, by=manager)
    assert checks.passed
    assert errors_of(release) == []


def test_rerun_after_the_fix_passes_and_resolves_the_errors(estate, manager):
    release, product, old, new, licence, cis = estate
    cis[1].installed_software.update(version=SoftwareVersionFactory(product=product, version="0.9"))
    release = verify(release, manager)
    assert errors_of(release) == ["version_mismatch"]
    cis[1].installed_software.update(version=old)
    # the release goes round again (replan … plan_rollout); here the engine alone runs again
    run = services.run_verification(release, by=manager)
    assert run.passed
    assert errors_of(release) == []
    assert Discrepancy.objects.get(reference=release.number).resolution.startswith(
        "No longer found"
    )


def test_query_count_does_not_grow_with_targets(manager, django_assert_max_num_queries):
    product = SoftwareProductFactory(licensed=True)
    old, new = SoftwareVersionFactory(product=product), SoftwareVersionFactory(product=product)
    licence = LicenceFactory(licence_product=product.licence_product, seats=1000)
    release = ReleaseFactory(state=ReleaseState.ROLLOUT_PLANNED)
    ReleaseItem.objects.create(
        release=release, kind="software", software_version=new, replaces_version=old
    )
    cis = ConfigurationItemFactory.create_batch(60)
    for ci in cis:
        InstalledSoftwareFactory(ci=ci, version=old, licence=licence)
    ReleaseTarget.objects.bulk_create([ReleaseTarget(release=release, ci=ci) for ci in cis])
    with django_assert_max_num_queries(45):
        assert verify(release, manager).state == ReleaseState.VERIFIED


def test_a_viewer_cannot_verify(estate, role_user):
    from releasemgmt.core.exceptions import DomainPermissionDenied

    release, *_ = estate
    with pytest.raises(DomainPermissionDenied):
        verify(release, role_user("auditor"))
