"""The periodic integrity task: recompute checksums, quarantine what no longer matches."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import ArtefactCheck, SoftwareVersion
from dsl_dhs.tasks import software_versions_verify_task
from releasemgmt.core.models import AuditEvent
from tests.factories import SoftwareVersionFactory

pytestmark = pytest.mark.django_db


def tamper(version):
    with open(version.artefact.path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))


def test_task_is_registered_under_the_name_beat_schedules():
    from django.conf import settings

    from releasemgmt.celery import app

    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE["dsl-verify-artefacts"]["task"] in app.tasks
    assert software_versions_verify_task.name == "dsl_dhs.tasks.verify_artefacts"


def test_tampered_artefact_is_quarantined_with_a_mismatch_record():
    # given an authorised version whose stored file was altered, and one left alone
    tampered = SoftwareVersionFactory()
    untouched = SoftwareVersionFactory()
    expected = tampered.sha256
    tamper(tampered)
    # when
    counts = software_versions_verify_task.delay().get()
    # then
    assert counts == {"mismatch": 1, "ok": 1}
    tampered.refresh_from_db()
    assert tampered.status == VersionStatus.QUARANTINED
    assert "SHA-256" in tampered.status_reason and expected in tampered.status_reason
    check = ArtefactCheck.objects.get(version=tampered)
    assert check.result == "mismatch"
    assert check.expected_sha256 == expected
    assert check.found_sha256 not in ("", expected)
    assert check.found_size == tampered.size
    event = AuditEvent.objects.get(
        action="dsl_dhs.softwareversion.quarantine", object_id=str(tampered.pk)
    )
    assert event.actor is None and event.actor_name == "system"

    untouched.refresh_from_db()
    assert untouched.status == VersionStatus.AUTHORISED
    assert ArtefactCheck.objects.get(version=untouched).result == "ok"
    assert untouched.last_checked_at is not None


def test_missing_artefact_is_quarantined_as_missing():
    version = SoftwareVersionFactory()
    version.artefact.storage.delete(version.artefact.name)
    assert software_versions_verify_task() == {"missing": 1}
    version.refresh_from_db()
    assert version.status == VersionStatus.QUARANTINED
    check = ArtefactCheck.objects.get(version=version)
    assert check.result == "missing" and check.found_sha256 == "" and check.found_size is None
    assert "missing from storage" in version.status_reason


def test_a_repeat_run_records_fresh_checks_but_changes_nothing_else():
    version = SoftwareVersionFactory()
    tamper(version)
    software_versions_verify_task()
    version.refresh_from_db()
    reason, changed_at = version.status_reason, version.status_changed_at
    history = version.history.count()

    assert software_versions_verify_task() == {"mismatch": 1}
    version.refresh_from_db()
    assert version.status == VersionStatus.QUARANTINED
    assert (version.status_reason, version.status_changed_at) == (reason, changed_at)
    assert version.history.count() == history  # routine checks add no history rows
    assert ArtefactCheck.objects.filter(version=version).count() == 2
    assert AuditEvent.objects.filter(action="dsl_dhs.softwareversion.quarantine").count() == 1


def test_retired_and_artefactless_versions_are_skipped():
    SoftwareVersionFactory(status=VersionStatus.RETIRED)
    SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    assert software_versions_verify_task() == {}
    assert not ArtefactCheck.objects.exists()


def test_batch_takes_the_least_recently_checked_first():
    now = timezone.now()
    never = SoftwareVersionFactory()
    old = SoftwareVersionFactory()
    recent = SoftwareVersionFactory()
    SoftwareVersion.objects.filter(pk=old.pk).update(last_checked_at=now - timedelta(days=3))
    SoftwareVersion.objects.filter(pk=recent.pk).update(last_checked_at=now - timedelta(hours=1))

    assert software_versions_verify_task(limit=2) == {"ok": 2}
    checked = set(ArtefactCheck.objects.values_list("version_id", flat=True))
    assert checked == {never.pk, old.pk}
    assert software_versions_verify_task(limit=1) == {"ok": 1}
    assert ArtefactCheck.objects.filter(version=recent).exists()


def test_a_version_replaced_while_being_hashed_is_skipped(monkeypatch):
    from dsl_dhs.services import versions

    version = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    real = versions._stored_digest

    def replaced_meanwhile(name):
        result = real(name)
        SoftwareVersion.objects.filter(pk=version.pk).update(sha256="f" * 64)
        return result

    monkeypatch.setattr(versions, "_stored_digest", replaced_meanwhile)
    assert software_versions_verify_task() == {"skipped": 1}
    assert not ArtefactCheck.objects.exists()


def test_management_command_runs_the_check(capsys):
    from django.core.management import call_command

    version = SoftwareVersionFactory()
    tamper(version)
    call_command("dsl_verify_artefacts")
    assert "1 mismatch" in capsys.readouterr().out
