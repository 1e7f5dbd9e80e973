"""Version status changes: every (from, to) pair, reasons, permissions, authorisation checks."""

import itertools

import pytest
from django.urls import reverse

from dsl_dhs import services
from dsl_dhs.choices import VERSION_STATUS_CHANGES, VersionStatus
from dsl_dhs.models import ArtefactCheck
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.models import AuditEvent
from tests.factories import SoftwareVersionFactory

pytestmark = pytest.mark.django_db

STATUSES = [s.value for s in VersionStatus]
TARGETS = ["authorised", "quarantined", "retired"]
ALLOWED = {(str(a), str(b)) for a, targets in VERSION_STATUS_CHANGES.items() for b in targets}


def status_url(version):
    return reverse("dsl_dhs-api:software-version-status", kwargs={"pk": version.pk})


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, TARGETS)))
def test_status_change_table(config_manager, current, target):
    # given a version in `current` (with an intact artefact)
    version = SoftwareVersionFactory(status=current)
    allowed = (current, target) in ALLOWED
    # when / then
    if allowed:
        changed = services.software_version_set_status(
            version=version, status=target, reason="Because the table says so", by=config_manager
        )
        assert changed.status == target
        assert changed.status_changed_at is not None
        verb = {"authorised": "authorise", "quarantined": "quarantine", "retired": "retire"}[target]
        assert AuditEvent.objects.filter(
            action=f"dsl_dhs.softwareversion.{verb}", object_id=str(version.pk)
        ).exists()
    else:
        with pytest.raises(DomainConflict) as refused:
            services.software_version_set_status(
                version=version, status=target, reason="Because", by=config_manager
            )
        assert refused.value.extra["allowed"] == sorted(
            str(s) for s in VERSION_STATUS_CHANGES[VersionStatus(current)]
        )
        version.refresh_from_db()
        assert version.status == current


def test_the_table_opens_exactly_the_documented_paths():
    assert {
        ("draft", "authorised"),
        ("draft", "retired"),
        ("authorised", "quarantined"),
        ("authorised", "retired"),
        ("quarantined", "authorised"),
        ("quarantined", "retired"),
    } == ALLOWED


def test_authorising_records_who_when_and_an_ok_check(config_manager):
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    services.software_version_set_status(version=version, status="authorised", by=config_manager)
    version.refresh_from_db()
    assert version.authorised_by == config_manager
    assert version.authorised_at is not None
    assert version.last_checked_at is not None
    assert ArtefactCheck.objects.get(version=version).result == "ok"
    assert version.history.first().history_user == config_manager


@pytest.mark.parametrize("target", ["quarantined", "retired"])
def test_quarantine_and_retire_need_a_reason(config_manager, target):
    version = SoftwareVersionFactory()
    with pytest.raises(DomainValidationError) as refused:
        services.software_version_set_status(
            version=version, status=target, reason="   ", by=config_manager
        )
    assert "reason" in refused.value.message
    version.refresh_from_db()
    assert version.status == "authorised"


def test_status_change_needs_the_authorise_permission(role_user):
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    with pytest.raises(DomainPermissionDenied):
        services.software_version_set_status(
            version=version, status="authorised", by=role_user("release_manager")
        )


def test_authorising_without_an_artefact_is_409(config_manager):
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    with pytest.raises(DomainConflict, match="no artefact yet"):
        services.software_version_set_status(
            version=version, status="authorised", by=config_manager
        )


def test_authorising_a_damaged_artefact_is_409(config_manager):
    version = SoftwareVersionFactory(status=VersionStatus.QUARANTINED)
    with open(version.artefact.path, "wb") as handle:
        handle.write(b"not what was uploaded")
    with pytest.raises(DomainConflict, match="Upload the artefact again"):
        services.software_version_set_status(
            version=version, status="authorised", by=config_manager
        )
    version.refresh_from_db()
    assert version.status == "quarantined"


# Through the API


def test_api_status_change_and_its_refusals(cm_api):
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT)

    authorised = cm_api.post(status_url(version), {"status": "authorised"})
    assert authorised.status_code == 200, authorised.content
    assert authorised.json()["status"] == "authorised"
    assert authorised.json()["authorised_by"]

    no_reason = cm_api.post(status_url(version), {"status": "retired"})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["errors"]

    retired = cm_api.post(status_url(version), {"status": "retired", "reason": "Superseded by 2.0"})
    assert retired.status_code == 200
    assert retired.json()["status_reason"] == "Superseded by 2.0"

    again = cm_api.post(status_url(version), {"status": "authorised"})
    assert again.status_code == 409
    body = again.json()
    assert body["allowed"] == [] and body["status"] == "retired"
    assert "cannot change to authorised" in body["detail"]


def test_api_unknown_status_is_400(cm_api):
    version = SoftwareVersionFactory()
    response = cm_api.post(status_url(version), {"status": "draft"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_api_status_change_is_refused_to_a_release_manager(rm_api):
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    response = rm_api.post(status_url(version), {"status": "authorised"})
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.status == "draft"
