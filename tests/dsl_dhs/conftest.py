"""Fixtures of the DSL and DHS tests: an empty media folder per test (so "nothing stored" can be
checked by listing it), role users and their API clients, and artefact helpers."""

import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """Each test stores artefacts in its own folder (FileSystemStorage follows MEDIA_ROOT)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


def stored_files(media: Path) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(data: bytes, name: str = "setup.bin") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def config_manager(role_user):
    return role_user("configuration_manager")


@pytest.fixture
def release_manager(role_user):
    return role_user("release_manager")


@pytest.fixture
def cm_api(token_client, config_manager):
    return token_client(config_manager)


@pytest.fixture
def rm_api(token_client, release_manager):
    return token_client(release_manager)
