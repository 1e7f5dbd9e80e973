"""Artefact upload (checksum, size limit, media types), download for agents, on-demand verify."""

import base64
import hashlib

import pytest
from django.test import override_settings
from django.urls import reverse

from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import ArtefactCheck, SoftwareVersion
from releasemgmt.core.models import AuditEvent
from tests.dsl_dhs.conftest import sha256, stored_files, upload
from tests.factories import SoftwareProductFactory, SoftwareVersionFactory

pytestmark = pytest.mark.django_db

VERSION_LIST = reverse("dsl_dhs-api:software-version-list")
PAYLOAD = b"\x7fELF" + bytes(range(256)) * 40


def action_url(version, name):
    return reverse(f"dsl_dhs-api:software-version-{name}", kwargs={"pk": version.pk})


def create_multipart(
    client, product, *, data=PAYLOAD, version="3.0.0", declared=None, name="app.tar.gz"
):
    body = {"product": product.pk, "version": version, "artefact": upload(data, name)}
    if declared is not None:
        body["sha256"] = declared
    return client.post(VERSION_LIST, body, format="multipart")


# Upload


def test_multipart_create_stores_the_artefact_with_size_and_sha256(cm_api, media, config_manager):
    product = SoftwareProductFactory()
    response = create_multipart(cm_api, product, declared=sha256(PAYLOAD).upper())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["size"] == len(PAYLOAD)
    assert body["sha256"] == sha256(PAYLOAD)
    assert body["artefact_name"] == "app.tar.gz"
    version = SoftwareVersion.objects.get(pk=body["id"])
    assert version.artefact.name.startswith(f"dsl/{product.pk}/3.0.0/")
    with version.artefact.open("rb") as stored:
        assert stored.read() == PAYLOAD
    assert stored_files(media) == [version.artefact.name]
    event = AuditEvent.objects.get(
        action="dsl_dhs.softwareversion.create", object_id=str(version.pk)
    )
    assert event.actor == config_manager
    assert event.after["sha256"] == sha256(PAYLOAD)


def test_mismatching_declared_checksum_is_400_and_nothing_is_stored(cm_api, media):
    product = SoftwareProductFactory()
    response = create_multipart(cm_api, product, declared="0" * 64)
    assert response.status_code == 400
    body = response.json()
    assert "does not match" in body["errors"]["sha256"]
    assert sha256(PAYLOAD) in body["detail"]
    assert not SoftwareVersion.objects.filter(product=product).exists()
    assert stored_files(media) == []
    assert not AuditEvent.objects.filter(action__startswith="dsl_dhs.softwareversion").exists()


def test_malformed_declared_checksum_is_400(cm_api, media):
    response = create_multipart(cm_api, SoftwareProductFactory(), declared="abc")
    assert response.status_code == 400
    assert "64 hexadecimal" in response.json()["errors"]["sha256"]
    assert stored_files(media) == []


def test_empty_file_is_400(cm_api, media):
    response = create_multipart(cm_api, SoftwareProductFactory(), data=b"")
    assert response.status_code == 400
    assert "artefact" in response.json()["errors"]
    assert stored_files(media) == []


@override_settings(DSL_MAX_ARTEFACT_BYTES=1000)
def test_artefact_over_the_limit_is_413_counted_while_hashing(cm_api, media):
    # the body is small enough to pass the Content-Length gate; the byte count catches it
    response = create_multipart(cm_api, SoftwareProductFactory(), data=b"x" * 1001)
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]
    assert not SoftwareVersion.objects.exists()
    assert stored_files(media) == []


@override_settings(DSL_MAX_ARTEFACT_BYTES=10)
def test_declared_content_length_over_the_limit_is_413_before_reading(cm_api, media):
    big = b"y" * (1024 * 1024 + 100)
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = cm_api.post(
        action_url(draft, "artefact"), {"artefact": upload(big)}, format="multipart"
    )
    assert response.status_code == 413
    assert "DSL_MAX_ARTEFACT_MB" in response.json()["detail"]
    draft.refresh_from_db()
    assert not draft.artefact and draft.size is None
    assert stored_files(media) == []


def test_artefact_endpoint_refuses_json_with_415(cm_api):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = cm_api.post(action_url(draft, "artefact"), {"artefact": "x"}, format="json")
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_artefact_endpoint_without_file_is_400_naming_the_field(cm_api):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = cm_api.post(action_url(draft, "artefact"), {"sha256": ""}, format="multipart")
    assert response.status_code == 400
    assert "artefact" in response.json()["errors"]


def test_attach_and_replace_the_artefact_of_a_draft(
    cm_api, media, django_capture_on_commit_callbacks
):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    first = cm_api.post(
        action_url(draft, "artefact"), {"artefact": upload(b"one")}, format="multipart"
    )
    assert first.status_code == 200, first.content
    assert first.json()["sha256"] == sha256(b"one")
    draft.refresh_from_db()
    old_name = draft.artefact.name

    with django_capture_on_commit_callbacks(execute=True):
        second = cm_api.post(
            action_url(draft, "artefact"),
            {"artefact": upload(b"two", "other.bin"), "sha256": sha256(b"two")},
            format="multipart",
        )
    assert second.status_code == 200, second.content
    draft.refresh_from_db()
    assert draft.sha256 == sha256(b"two") and draft.size == 3
    assert draft.artefact_name == "other.bin"
    assert stored_files(media) == [draft.artefact.name] != [old_name]
    assert (
        AuditEvent.objects.filter(
            action="dsl_dhs.softwareversion.upload", object_id=str(draft.pk)
        ).count()
        == 2
    )


def test_replacing_an_authorised_artefact_is_409_and_changes_nothing(cm_api, media):
    version = SoftwareVersionFactory()
    before = (version.artefact.name, version.sha256, version.size)
    response = cm_api.post(
        action_url(version, "artefact"), {"artefact": upload(b"evil")}, format="multipart"
    )
    assert response.status_code == 409
    assert "immutable" in response.json()["detail"]
    version.refresh_from_db()
    assert (version.artefact.name, version.sha256, version.size) == before
    assert stored_files(media) == [version.artefact.name]


def test_quarantined_version_takes_only_its_original_bytes_back(cm_api, media):
    original = b"the original bytes"
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    cm_api.post(action_url(version, "artefact"), {"artefact": upload(original)}, format="multipart")
    SoftwareVersion.objects.filter(pk=version.pk).update(status=VersionStatus.QUARANTINED)

    other = cm_api.post(
        action_url(version, "artefact"), {"artefact": upload(b"other")}, format="multipart"
    )
    assert other.status_code == 409
    assert "only its original artefact" in other.json()["detail"]

    restored = cm_api.post(
        action_url(version, "artefact"), {"artefact": upload(original)}, format="multipart"
    )
    assert restored.status_code == 200, restored.content
    assert restored.json()["status"] == "quarantined"
    assert restored.json()["sha256"] == sha256(original)


def test_upload_is_refused_to_a_release_manager(rm_api, media):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = rm_api.post(
        action_url(draft, "artefact"), {"artefact": upload(b"x")}, format="multipart"
    )
    assert response.status_code == 403
    assert create_multipart(rm_api, draft.product).status_code == 403
    assert stored_files(media) == []


def test_upload_anonymous_is_401(api_client):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = api_client.post(
        action_url(draft, "artefact"), {"artefact": upload(b"x")}, format="multipart"
    )
    assert response.status_code == 401


def test_large_upload_is_spooled_to_disk_and_hashed_in_chunks(cm_api, media, settings, monkeypatch):
    from dsl_dhs import services
    from dsl_dhs.services import versions

    # given a body over Django's in-memory threshold: it arrives as a temporary file
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)
    seen = {"file": None, "largest_chunk": 0}
    real_upload, real_digest = services.software_version_upload, versions._digest

    def spy_upload(**kwargs):
        seen["file"] = type(kwargs["file"]).__name__
        return real_upload(**kwargs)

    def spy_digest(chunks, **kwargs):
        def counted():
            for chunk in chunks:
                seen["largest_chunk"] = max(seen["largest_chunk"], len(chunk))
                yield chunk

        return real_digest(counted(), **kwargs)

    monkeypatch.setattr(services, "software_version_upload", spy_upload)
    monkeypatch.setattr(versions, "_digest", spy_digest)
    # when
    response = create_multipart(cm_api, SoftwareProductFactory(), data=data, declared=sha256(data))
    # then
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(data)
    assert seen["file"] == "TemporaryUploadedFile"
    assert 0 < seen["largest_chunk"] <= versions.HASH_CHUNK_BYTES < len(data)
    version = SoftwareVersion.objects.get(pk=response.json()["id"])
    with version.artefact.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == sha256(data)


# Download


def test_download_streams_the_authorised_artefact_with_its_checksum(token_client, role_user):
    version = SoftwareVersionFactory()
    with version.artefact.open("rb") as stored:
        expected = stored.read()
    client = token_client(role_user("integration"))
    response = client.get(action_url(version, "download"), HTTP_ACCEPT="application/octet-stream")
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body == expected
    assert response["X-Checksum-SHA256"] == version.sha256 == sha256(body)
    assert int(response["Content-Length"]) == version.size == len(body)
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{version.artefact_name}"'
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert response["Repr-Digest"] == f"sha-256=:{digest}:"
    assert response["ETag"] == f'"{version.sha256}"'


@pytest.mark.parametrize("status", ["draft", "quarantined", "retired"])
def test_download_of_a_version_that_is_not_authorised_is_409(token_client, role_user, status):
    version = SoftwareVersionFactory(status=status)
    response = token_client(role_user("integration")).get(action_url(version, "download"))
    assert response.status_code == 409
    assert "only authorised versions" in response.json()["detail"]
    assert response.json()["status"] == status


@pytest.mark.parametrize("role", ["auditor", "change_manager"])
def test_download_without_the_permission_is_403(token_client, role_user, role):
    version = SoftwareVersionFactory()
    response = token_client(role_user(role)).get(action_url(version, "download"))
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")


def test_download_anonymous_is_401(api_client):
    version = SoftwareVersionFactory()
    assert api_client.get(action_url(version, "download")).status_code == 401


def test_download_of_a_missing_file_is_409_not_500(token_client, role_user):
    version = SoftwareVersionFactory()
    version.artefact.storage.delete(version.artefact.name)
    response = token_client(role_user("ops")).get(action_url(version, "download"))
    assert response.status_code == 409
    assert "missing from storage" in response.json()["detail"]


# On-demand verification


def test_verify_records_an_ok_check(cm_api):
    version = SoftwareVersionFactory()
    response = cm_api.post(action_url(version, "verify"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["check"]["result"] == "ok"
    assert body["check"]["found_sha256"] == version.sha256
    assert body["version"]["status"] == "authorised"
    assert body["version"]["last_check_result"] == "ok"


def test_verify_finds_a_tampered_file_and_quarantines(cm_api):
    version = SoftwareVersionFactory()
    with open(version.artefact.path, "ab") as handle:
        handle.write(b"!")
    response = cm_api.post(action_url(version, "verify"))
    assert response.status_code == 200
    assert response.json()["check"]["result"] == "mismatch"
    assert response.json()["version"]["status"] == "quarantined"


def test_verify_is_refused_to_a_release_manager_and_needs_an_artefact(rm_api, cm_api):
    version = SoftwareVersionFactory()
    assert rm_api.post(action_url(version, "verify")).status_code == 403
    assert not ArtefactCheck.objects.exists()
    empty = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = cm_api.post(action_url(empty, "verify"))
    assert response.status_code == 409
    assert "no artefact" in response.json()["detail"]
