"""CMDB services: CIs and their attributes, relationships, installed software with licence
allocation, licences, and the seats-in-use selector."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cmdb import services
from cmdb.choices import CIStatus, ErrorKind, LicenceMetric, RelationshipKind
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from cmdb.selectors import licences_with_usage
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.models import AuditEvent
from tests.factories import (
    ConfigurationItemFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    LicenceProductFactory,
    RelationshipFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(role_user):
    return role_user("configuration_manager")


# Configuration items.


@pytest.mark.parametrize(
    ("kind", "attributes", "problem"),
    [
        ("server", {"rack": "R1", "hypervisor": "kvm"}, "hypervisor"),
        ("virtual_machine", {"memory_gb": "1.5"}, "memory_gb"),
        ("workstation", {"ip_address": "not-an-ip"}, "ip_address"),
        ("laptop", {"cpu_cores": True}, "cpu_cores"),
        ("network_device", {"firmware": "x" * 201}, "firmware"),
        ("storage", {"capacity_tb": "-3"}, "capacity_tb"),
        ("software", {"vendor": ["a"]}, "vendor"),
        ("service", {"tier": "0"}, "tier"),
        ("application", {"repository": {"url": "x"}}, "repository"),
    ],
)
def test_attributes_are_validated_per_kind(manager, kind, attributes, problem):
    with pytest.raises(DomainValidationError) as error:
        services.ci_create(by=manager, identifier="x", name="X", kind=kind, attributes=attributes)
    assert list(error.value.message) == [f"attributes.{problem}"]
    assert not ConfigurationItem.objects.exists()


def test_attributes_are_cleaned_and_typed(manager):
    ci = services.ci_create(
        by=manager,
        identifier=" web-01 ",
        name="Web",
        kind="server",
        attributes={"cpu_cores": "16", "ip_address": "10.0.0.1", "os": " Debian 12 ", "rack": ""},
    )
    assert ci.identifier == "web-01"
    assert ci.attributes == {"cpu_cores": 16, "ip_address": "10.0.0.1", "os": "Debian 12"}
    assert ci.history.get().history_user == manager


def test_identifier_is_unique_whatever_the_case(manager):
    services.ci_create(by=manager, identifier="Web-01", name="A", kind="server")
    with pytest.raises(DomainValidationError) as error:
        services.ci_create(by=manager, identifier="WEB-01", name="B", kind="server")
    assert "Web-01" in error.value.message["identifier"]


def test_update_records_who_and_why(manager):
    ci = services.ci_create(by=manager, identifier="a", name="A", kind="server")
    services.ci_update(ci=ci, by=manager, reason="moved racks", attributes={"rack": "R9"})
    latest = ci.history.order_by("-history_id").first()
    assert latest.history_change_reason == "moved racks"
    assert latest.history_user == manager
    event = AuditEvent.objects.filter(action="cmdb.configurationitem.update").get()
    assert event.after["attributes"] == {"rack": "R9"} and event.reason == "moved racks"


def test_retire_sets_status_and_keeps_relationships(manager):
    rel = RelationshipFactory()
    services.ci_retire(ci=rel.target, by=manager, reason="End of life")
    rel.target.refresh_from_db()
    assert rel.target.status == CIStatus.RETIRED
    assert Relationship.objects.filter(pk=rel.pk).exists()
    with pytest.raises(DomainValidationError):
        services.ci_retire(ci=rel.source, by=manager, reason=" ")
    with pytest.raises(DomainConflict):
        services.ci_retire(ci=rel.target, by=manager, reason="again")


def test_delete_refuses_a_ci_with_software_history(manager):
    now = timezone.now()
    row = InstalledSoftwareFactory(installed_at=now - timedelta(days=9), removed_at=now)
    with pytest.raises(DomainConflict):
        services.ci_delete(ci=row.ci, by=manager)
    spare = ConfigurationItemFactory()
    services.ci_delete(ci=spare, by=manager)
    assert not ConfigurationItem.objects.filter(pk=spare.pk).exists()


# Relationships.


def test_relationship_rules(manager):
    a, b, c = ConfigurationItemFactory.create_batch(3, service=True)
    with pytest.raises(DomainValidationError, match="itself"):
        services.relationship_create(source=a, target=a, kind="depends_on", by=manager)
    services.relationship_create(source=a, target=b, kind=RelationshipKind.PART_OF, by=manager)
    services.relationship_create(source=b, target=c, kind=RelationshipKind.PART_OF, by=manager)
    with pytest.raises(DomainValidationError, match="cycle"):
        services.relationship_create(source=c, target=a, kind=RelationshipKind.PART_OF, by=manager)
    # a cycle of another kind is allowed: services depend on each other
    services.relationship_create(source=c, target=a, kind=RelationshipKind.DEPENDS_ON, by=manager)
    with pytest.raises(DomainConflict, match="exists"):
        services.relationship_create(source=a, target=b, kind=RelationshipKind.PART_OF, by=manager)
    assert Relationship.objects.count() == 3


def test_relationship_delete_is_audited(manager):
    rel = RelationshipFactory()
    services.relationship_delete(relationship=rel, by=manager, reason="wrong")
    assert not Relationship.objects.exists()
    assert AuditEvent.objects.filter(action="cmdb.relationship.delete", reason="wrong").exists()
    assert rel.history.model.objects.filter(history_type="-").get().history_user == manager


# Installed software and licences.


@pytest.fixture
def licensed():
    """A licensed product with two versions."""
    product = SoftwareProductFactory(licensed=True)
    return (
        product,
        SoftwareVersionFactory(product=product, version="1.0", with_artefact=False),
        SoftwareVersionFactory(product=product, version="2.0", with_artefact=False),
    )


def test_recording_replaces_the_previous_version_and_keeps_it(manager, licensed):
    product, v1, v2 = licensed
    licence = LicenceFactory(licence_product=product.licence_product, seats=5)
    ci = ConfigurationItemFactory()
    first = services.installed_software_record(ci=ci, version=v1, by=manager)
    second = services.installed_software_record(ci=ci, version=v2, by=manager, source="release")
    first.refresh_from_db()
    assert first.removed_at == second.installed_at
    assert second.removed_at is None and second.licence == licence == first.licence
    assert InstalledSoftware.objects.filter(ci=ci).count() == 2
    assert licences_with_usage().get(pk=licence.pk).seats_in_use == 1


def test_allocation_takes_a_licence_with_free_seats(manager, licensed):
    product, v1, _ = licensed
    full = LicenceFactory(licence_product=product.licence_product, seats=1, name="full")
    InstalledSoftwareFactory(version=v1, licence=full)
    expired = LicenceFactory(
        licence_product=product.licence_product,
        seats=10,
        valid_until=timezone.localdate() - timedelta(days=1),
    )
    roomy = LicenceFactory(licence_product=product.licence_product, seats=10, name="roomy")
    row = services.installed_software_record(ci=ConfigurationItemFactory(), version=v1, by=manager)
    assert row.licence == roomy
    assert row.licence not in (full, expired)


def test_per_device_licence_counts_a_ci_once(manager):
    licence_product = LicenceProductFactory()
    suite_a = SoftwareProductFactory(licence_product=licence_product)
    suite_b = SoftwareProductFactory(licence_product=licence_product)
    licence = LicenceFactory(licence_product=licence_product, seats=1, metric="per_device")
    ci = ConfigurationItemFactory()
    a = services.installed_software_record(
        ci=ci, version=SoftwareVersionFactory(product=suite_a, with_artefact=False), by=manager
    )
    b = services.installed_software_record(
        ci=ci, version=SoftwareVersionFactory(product=suite_b, with_artefact=False), by=manager
    )
    assert a.licence == b.licence == licence  # the second costs no extra seat
    usage = licences_with_usage().get(pk=licence.pk)
    assert (usage.seats_in_use, usage.seats_free, usage.is_over) == (1, 0, False)


def test_per_seat_licence_counts_every_installation(manager):
    licence_product = LicenceProductFactory()
    suite_a = SoftwareProductFactory(licence_product=licence_product)
    suite_b = SoftwareProductFactory(licence_product=licence_product)
    licence = LicenceFactory(licence_product=licence_product, seats=1, metric="per_seat")
    ci = ConfigurationItemFactory()
    services.installed_software_record(
        ci=ci, version=SoftwareVersionFactory(product=suite_a, with_artefact=False), by=manager
    )
    second = services.installed_software_record(
        ci=ci, version=SoftwareVersionFactory(product=suite_b, with_artefact=False), by=manager
    )
    assert second.licence is None
    assert licences_with_usage().get(pk=licence.pk).seats_in_use == 1


def test_no_free_seat_records_without_licence_and_a_licence_missing_error(manager, licensed):
    product, v1, _ = licensed
    LicenceFactory(licence_product=product.licence_product, seats=0, low_seat_threshold=0)
    ci = ConfigurationItemFactory()
    row = services.installed_software_record(ci=ci, version=v1, by=manager)
    assert row.pk and row.licence is None
    error = Discrepancy.objects.get(kind=ErrorKind.LICENCE_MISSING)
    assert (error.ci, error.software_version, error.category) == (ci, v1, "licence")
    # recorded again (e.g. an agent re-reporting): still one open error
    services.installed_software_remove(installation=row, by=manager)
    services.installed_software_record(ci=ci, version=v1, by=manager)
    assert Discrepancy.objects.filter(kind=ErrorKind.LICENCE_MISSING).count() == 1


def test_site_licence_never_runs_out(manager, licensed):
    product, v1, _ = licensed
    site = LicenceFactory(licence_product=product.licence_product, metric="site", seats=None)
    rows = [
        services.installed_software_record(ci=ConfigurationItemFactory(), version=v1, by=manager)
        for _ in range(3)
    ]
    assert {row.licence for row in rows} == {site}
    usage = licences_with_usage().get(pk=site.pk)
    assert (usage.seats_in_use, usage.seats_free, usage.is_over, usage.is_low) == (
        3,
        None,
        False,
        False,
    )


def test_removal_frees_the_seat(manager, licensed):
    product, v1, _ = licensed
    licence = LicenceFactory(licence_product=product.licence_product, seats=1)
    row = services.installed_software_record(ci=ConfigurationItemFactory(), version=v1, by=manager)
    services.installed_software_remove(installation=row, by=manager)
    assert licences_with_usage().get(pk=licence.pk).seats_free == 1
    again = services.installed_software_record(
        ci=ConfigurationItemFactory(), version=v1, by=manager
    )
    assert again.licence == licence


def test_seats_in_use_for_many_licences_is_one_query(django_assert_num_queries, licensed):
    product, v1, _ = licensed
    licences = Licence.objects.bulk_create(
        LicenceFactory.build(licence_product=product.licence_product, name=f"L{n}", seats=3)
        for n in range(40)
    )
    cis = ConfigurationItem.objects.bulk_create(
        ConfigurationItemFactory.build(identifier=f"c{n}") for n in range(40)
    )
    InstalledSoftware.objects.bulk_create(
        InstalledSoftware(
            ci=ci, product=product, version=v1, licence=licences[n % 4], installed_at=timezone.now()
        )
        for n, ci in enumerate(cis)
    )
    with django_assert_num_queries(1):
        rows = list(licences_with_usage())
    in_use = {row.pk: row.seats_in_use for row in rows}
    assert [in_use[licence.pk] for licence in licences[:5]] == [10, 10, 10, 10, 0]
    assert sum(row.is_over for row in rows) == 4


def test_licence_services_check_seats_and_dates(manager):
    product = LicenceProductFactory()
    with pytest.raises(DomainValidationError) as error:
        services.licence_create(by=manager, licence_product=product, name="x", metric="per_seat")
    assert "seats" in error.value.message
    site = services.licence_create(
        by=manager, licence_product=product, name="site", metric=LicenceMetric.SITE, seats=9
    )
    assert site.seats is None
    licence = services.licence_create(
        by=manager, licence_product=product, name="l", metric="per_seat", seats=4
    )
    with pytest.raises(DomainValidationError) as error:
        services.licence_update(
            licence=licence,
            by=manager,
            valid_from=timezone.localdate(),
            valid_until=timezone.localdate() - timedelta(days=1),
        )
    assert "valid_until" in error.value.message
    services.licence_update(licence=licence, by=manager, seats=2)
    assert AuditEvent.objects.filter(action="cmdb.licence.update", after={"seats": 2}).exists()


def test_history_names_locations_and_choices(manager):
    from cmdb.selectors import ci_history
    from tests.factories import HardwareModelFactory, LocationFactory

    north = LocationFactory(name="Data centre North")
    south = LocationFactory(name="Data centre South")
    model = HardwareModelFactory(manufacturer="Dell", name="R660")
    ci = services.ci_create(by=manager, identifier="a", name="A", kind="server", location=north)
    services.ci_update(
        ci=ci, by=manager, location=south, hardware_model=model, attributes={"os": "Debian"}
    )
    services.ci_retire(ci=ci, by=manager, reason="gone")
    retired, changed, created = ci_history(ci)
    assert created.action == "created" and created.changes == []
    assert ("location", "Data centre North", "Data centre South") in changed.changes
    assert ("hardware model", "—", "Dell R660") in changed.changes
    assert ("attribute os", "—", "Debian") in changed.changes
    assert retired.changes == [("status", "Active", "Retired")]
    assert retired.reason == "gone" and retired.who == (manager.get_full_name() or manager.username)
