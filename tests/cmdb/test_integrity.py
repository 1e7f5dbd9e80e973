"""The CMDB integrity check: every kind it detects, auto-resolution, idempotence, and the licence
seat alerts it emails (once per new alert, after commit)."""

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from cmdb import services
from cmdb.choices import CIStatus, ErrorKind, ErrorSource
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence
from cmdb.tasks import cmdb_integrity_check_task, licence_alerts_notify_task
from dsl_dhs.choices import VersionStatus
from releasemgmt.core.models import AuditEvent
from tests.factories import (
    ConfigurationItemFactory,
    DiscrepancyFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    RelationshipFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
)

pytestmark = pytest.mark.django_db


def check():
    return services.cmdb_integrity_check(notify=False)


def open_of(kind):
    return list(Discrepancy.objects.filter(kind=kind, resolved_at__isnull=True))


@pytest.fixture
def licensed_version():
    return SoftwareVersionFactory(
        product=SoftwareProductFactory(licensed=True), with_artefact=False
    )


def test_a_clean_estate_has_nothing_to_report(licensed_version):
    licence = LicenceFactory(licence_product=licensed_version.product.licence_product, seats=5)
    InstalledSoftwareFactory(version=licensed_version, licence=licence)
    RelationshipFactory()
    summary = check()
    assert summary["found"] == summary["new"] == 0
    assert not Discrepancy.objects.exists()


def test_over_used_licence_is_seats_exceeded(licensed_version):
    licence = LicenceFactory(licence_product=licensed_version.product.licence_product, seats=2)
    InstalledSoftwareFactory.create_batch(3, version=licensed_version, licence=licence)
    check()
    (record,) = open_of(ErrorKind.SEATS_EXCEEDED)
    assert (record.licence, record.category, record.source) == (
        licence,
        "licence",
        "integrity_check",
    )
    assert record.expected == "at most 2 seats in use"
    assert record.found == "3 seats in use"


def test_expired_licence_still_in_use(licensed_version):
    licence = LicenceFactory(
        licence_product=licensed_version.product.licence_product,
        valid_until=timezone.localdate() - timedelta(days=3),
    )
    InstalledSoftwareFactory(version=licensed_version, licence=licence)
    LicenceFactory(valid_until=timezone.localdate() - timedelta(days=3), name="unused")
    check()
    (record,) = open_of(ErrorKind.LICENCE_EXPIRED)
    assert record.licence == licence
    assert "still consumed by 1 installation" in record.found


def test_licensed_installation_without_licence_is_licence_missing(licensed_version):
    row = InstalledSoftwareFactory(version=licensed_version, licence=None)
    InstalledSoftwareFactory(
        version=SoftwareVersionFactory(with_artefact=False)
    )  # no licence needed
    check()
    (record,) = open_of(ErrorKind.LICENCE_MISSING)
    assert (record.ci, record.software_version) == (row.ci, licensed_version)
    # same fingerprint as the one installed_software_record uses: no duplicate
    assert record.fingerprint == services.fingerprint_licence_missing(
        ci_id=row.ci_id, product_id=row.product_id
    )


def test_relationship_to_a_retired_ci_is_broken():
    rel = RelationshipFactory(target=ConfigurationItemFactory(retired=True, identifier="old-1"))
    RelationshipFactory()
    check()
    (record,) = open_of(ErrorKind.BROKEN_RELATIONSHIP)
    assert record.ci == rel.source  # shown on the live end
    assert record.found == "old-1 is retired"


def test_current_software_on_a_retired_ci_is_retired_target():
    ci = ConfigurationItemFactory(retired=True)
    InstalledSoftwareFactory.create_batch(2, ci=ci)
    InstalledSoftwareFactory(
        ci=ConfigurationItemFactory(retired=True),
        installed_at=timezone.now() - timedelta(days=2),
        removed_at=timezone.now(),
    )
    check()
    (record,) = open_of(ErrorKind.RETIRED_TARGET)
    assert record.ci == ci
    assert "2 installation(s)" in record.found


def test_hardware_sharing_a_serial_number_is_duplicate_identity():
    a = ConfigurationItemFactory(identifier="a", attributes={"serial_number": "SN-1"})
    ConfigurationItemFactory(identifier="b", attributes={"serial_number": " sn-1"})
    ConfigurationItemFactory(identifier="c", attributes={"serial_number": "SN-2"})
    ConfigurationItemFactory(identifier="d", retired=True, attributes={"serial_number": "SN-2"})
    ConfigurationItemFactory(service=True, identifier="e", attributes={})
    check()
    (record,) = open_of(ErrorKind.DUPLICATE_IDENTITY)
    assert record.ci == a
    assert record.subject == "serial number SN-1"
    assert record.found == "shared by a, b"


@pytest.mark.parametrize(
    ("status", "flagged"),
    [
        (VersionStatus.AUTHORISED, False),
        (VersionStatus.QUARANTINED, True),
        (VersionStatus.RETIRED, True),
        (VersionStatus.DRAFT, True),
    ],
)
def test_installed_versions_must_be_authorised(status, flagged):
    row = InstalledSoftwareFactory(
        version=SoftwareVersionFactory(status=status, with_artefact=False)
    )
    check()
    records = open_of(ErrorKind.UNAUTHORISED_SOFTWARE)
    assert bool(records) is flagged
    if flagged:
        assert records[0].ci == row.ci and records[0].software_version == row.version


def test_second_run_records_no_duplicates(licensed_version):
    licence = LicenceFactory(licence_product=licensed_version.product.licence_product, seats=0)
    InstalledSoftwareFactory(version=licensed_version, licence=licence)
    RelationshipFactory(target=ConfigurationItemFactory(retired=True))
    first = check()
    count = Discrepancy.objects.count()
    second = check()
    assert first["new"] == count == 2 and second["new"] == 0 and second["resolved"] == 0
    assert Discrepancy.objects.count() == count


def test_problems_no_longer_found_are_resolved_by_the_check(licensed_version):
    licence = LicenceFactory(licence_product=licensed_version.product.licence_product, seats=1)
    rows = InstalledSoftwareFactory.create_batch(2, version=licensed_version, licence=licence)
    retired = ConfigurationItemFactory(retired=True)
    rel = RelationshipFactory(target=retired)
    manual = DiscrepancyFactory(source=ErrorSource.MANUAL, kind=ErrorKind.SEATS_EXCEEDED)
    check()
    assert Discrepancy.objects.filter(resolved_at__isnull=True).count() == 3
    # when: the over-use ends and the relationship goes
    services.installed_software_remove(installation=rows[0], by=None)
    rel.delete()
    summary = check()
    # then
    assert summary["resolved"] == 2
    for kind in (ErrorKind.SEATS_EXCEEDED, ErrorKind.BROKEN_RELATIONSHIP):
        record = Discrepancy.objects.filter(kind=kind, source=ErrorSource.INTEGRITY_CHECK).get()
        assert record.resolved_at is not None and record.resolved_by is None
        assert record.resolution == "No longer found by the integrity check."
    manual.refresh_from_db()
    assert manual.is_open  # only the check's own records are closed by the check
    # when it comes back, it is a new record
    InstalledSoftwareFactory(version=licensed_version, licence=licence)
    check()
    assert (
        Discrepancy.objects.filter(kind=ErrorKind.SEATS_EXCEEDED, source="integrity_check").count()
        == 2
    )


def test_a_problem_already_open_from_another_source_is_not_duplicated(licensed_version):
    row = InstalledSoftwareFactory(version=licensed_version, licence=None)
    DiscrepancyFactory(
        kind=ErrorKind.LICENCE_MISSING,
        source=ErrorSource.IMPORT,
        fingerprint=services.fingerprint_licence_missing(
            ci_id=row.ci_id, product_id=row.product_id
        ),
    )
    check()
    assert Discrepancy.objects.filter(kind=ErrorKind.LICENCE_MISSING).count() == 1


def test_check_is_audited_when_something_changed():
    RelationshipFactory(target=ConfigurationItemFactory(retired=True))
    check()
    check()
    (event,) = AuditEvent.objects.filter(action="cmdb.integrity_check")
    assert event.after["new"] == 1 and event.actor_name == "system"


def test_query_count_does_not_grow_with_the_estate(django_assert_max_num_queries, licensed_version):
    licence = LicenceFactory(licence_product=licensed_version.product.licence_product, seats=1000)
    cis = ConfigurationItem.objects.bulk_create(
        ConfigurationItemFactory.build(
            identifier=f"ws-{n}", attributes={"serial_number": f"S{n % 150}"}
        )
        for n in range(300)
    )
    InstalledSoftware.objects.bulk_create(
        InstalledSoftware(
            ci=ci,
            product=licensed_version.product,
            version=licensed_version,
            licence=licence if n % 2 else None,
            installed_at=timezone.now(),
        )
        for n, ci in enumerate(cis)
    )
    with django_assert_max_num_queries(20):
        summary = check()
    assert summary["by_kind"][ErrorKind.LICENCE_MISSING] == 150
    assert summary["by_kind"][ErrorKind.DUPLICATE_IDENTITY] == 150
    with django_assert_max_num_queries(20):
        assert check()["new"] == 0


# Licence alerts.


@pytest.fixture
def managers(role_user):
    return [role_user("configuration_manager"), role_user("configuration_manager")]


def run_check(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.cmdb_integrity_check()


def test_low_licence_emails_configuration_managers_once(
    managers, role_user, licensed_version, django_capture_on_commit_callbacks
):
    role_user("release_manager")  # not told
    licence = LicenceFactory(
        licence_product=licensed_version.product.licence_product,
        name="M365 — 2026",
        seats=10,
        low_seat_threshold=2,
    )
    InstalledSoftwareFactory.create_batch(8, version=licensed_version, licence=licence)
    run_check(django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert sorted(message.to) == sorted(m.email for m in managers)
    assert "running low" in message.subject
    assert "M365 — 2026 (low on seats): 10 seats, 8 in use, 2 free" in message.body
    run_check(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1  # the same alert is not sent again


def test_a_broker_outage_loses_the_alert_e_mail_not_the_check(
    managers, licensed_version, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    # given a low licence and a broker that refuses every message
    licence = LicenceFactory(
        licence_product=licensed_version.product.licence_product, seats=10, low_seat_threshold=2
    )
    InstalledSoftwareFactory.create_batch(8, version=licensed_version, licence=licence)

    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(licence_alerts_notify_task, "delay", down)
    # when
    with caplog.at_level(logging.ERROR):
        summary = run_check(django_capture_on_commit_callbacks)
    # then the check and its alert are recorded; the lost e-mail is logged as an error
    assert summary["alerts"] == 1
    assert AuditEvent.objects.filter(action__startswith="cmdb.licence.seats").exists()
    assert mail.outbox == []
    assert "not enqueued" in caplog.text


def test_alert_escalates_clears_and_is_raised_again(
    managers, licensed_version, django_capture_on_commit_callbacks
):
    licence = LicenceFactory(
        licence_product=licensed_version.product.licence_product, seats=2, low_seat_threshold=0
    )
    rows = InstalledSoftwareFactory.create_batch(2, version=licensed_version, licence=licence)
    run_check(django_capture_on_commit_callbacks)  # full: low (0 free at threshold 0)
    InstalledSoftwareFactory(version=licensed_version, licence=licence)
    run_check(django_capture_on_commit_callbacks)  # over
    assert [m.subject for m in mail.outbox] == [
        "Licence alert: 1 licence(s) running low on seats",
        "Licence alert: 1 over-used, 0 running low",
    ]
    assert "OVER-USED" in mail.outbox[1].body
    for row in InstalledSoftware.objects.filter(licence=licence):
        services.installed_software_remove(installation=row, by=None)
    run_check(django_capture_on_commit_callbacks)  # fine again: nothing sent
    assert len(mail.outbox) == 2
    for row in rows:
        InstalledSoftwareFactory(version=licensed_version, licence=licence, ci=row.ci)
    run_check(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 3  # a new alert
    actions = list(
        AuditEvent.objects.filter(
            object_id=str(licence.pk), action__startswith="cmdb.licence.seats"
        )
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "cmdb.licence.seats_low",
        "cmdb.licence.seats_over",
        "cmdb.licence.seats_ok",
        "cmdb.licence.seats_low",
    ]


def test_no_email_before_commit_nor_when_rolled_back(managers, licensed_version):
    licence = LicenceFactory(
        licence_product=licensed_version.product.licence_product, seats=1, low_seat_threshold=0
    )
    InstalledSoftwareFactory.create_batch(2, version=licensed_version, licence=licence)
    services.cmdb_integrity_check()  # the test transaction never commits
    assert mail.outbox == []


def test_site_and_expired_licences_raise_no_alert(
    managers, licensed_version, django_capture_on_commit_callbacks
):
    site = LicenceFactory(
        licence_product=licensed_version.product.licence_product, metric="site", seats=None
    )
    expired = LicenceFactory(
        licence_product=licensed_version.product.licence_product,
        seats=1,
        valid_until=timezone.localdate() - timedelta(days=1),
    )
    InstalledSoftwareFactory(version=licensed_version, licence=site)
    InstalledSoftwareFactory(version=licensed_version, licence=expired)
    run_check(django_capture_on_commit_callbacks)
    assert mail.outbox == []
    assert open_of(ErrorKind.LICENCE_EXPIRED)  # the expiry is an error record instead


def test_task_runs_the_check(django_capture_on_commit_callbacks):
    RelationshipFactory(target=ConfigurationItemFactory(status=CIStatus.RETIRED))
    with django_capture_on_commit_callbacks(execute=True):
        summary = cmdb_integrity_check_task.delay().get()
    assert summary["new"] == 1
    assert cmdb_integrity_check_task.name == "cmdb.tasks.integrity_check"
    assert Licence.objects.count() == 0
