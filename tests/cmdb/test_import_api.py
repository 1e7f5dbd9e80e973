"""The import endpoint (``cmdb.import_views.CMDBImportView``), mounted here at the path proposed
for ``cmdb/api/urls.py``: ``POST /api/v1/cmdb/imports/`` (multipart)."""

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django.urls import path

from cmdb.import_views import CMDBImportView
from cmdb.models import ConfigurationItem
from releasemgmt.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("api/v1/cmdb/imports/", CMDBImportView.as_view(), name="cmdb-import-api"),
    *project_urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
URL = "/api/v1/cmdb/imports/"


def post(client, text, *, kind="cis", dry_run=False, name="cis.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        URL,
        {"kind": kind, "dry_run": dry_run, "file": SimpleUploadedFile(name, data, "text/csv")},
        format="multipart",
    )


@pytest.fixture
def manager_client(role_user, token_client):
    return token_client(role_user("configuration_manager"))


def test_anonymous_callers_get_401(api_client):
    response = post(api_client, "identifier,name,kind\nweb-01,Web,server\n")
    assert response.status_code == 401 and "detail" in response.json()


def test_readers_get_403(role_user, token_client):
    response = post(token_client(role_user("auditor")), "identifier,name,kind\nweb-01,Web,server\n")
    assert response.status_code == 403
    assert not ConfigurationItem.objects.exists()


def test_a_valid_file_is_imported(manager_client):
    response = post(manager_client, "identifier,name,kind\nweb-01,Web,server\n")
    assert response.status_code == 200
    body = response.json()
    assert body["written"] and body["valid"] and body["detail"] == "Imported."
    assert body["counts"] == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0, "warnings": 0}
    assert ConfigurationItem.objects.get().identifier == "web-01"


def test_a_dry_run_reports_and_writes_nothing(manager_client):
    response = post(manager_client, "identifier,name,kind\nweb-01,Web,server\n", dry_run=True)
    assert response.status_code == 200
    assert response.json()["detail"] == "The file is valid; dry run, nothing was written."
    assert not ConfigurationItem.objects.exists()


def test_problems_are_400_with_every_row_and_column(manager_client):
    response = post(manager_client, "identifier,name,kind\nweb-01,,server\nweb-02,Web,rack\n")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "The file has 2 problem(s); nothing was written."
    assert [(p["row"], p["column"], p["level"]) for p in body["problems"]] == [
        (2, "name", "error"),
        (3, "kind", "error"),
    ]
    assert not ConfigurationItem.objects.exists()


def test_a_missing_kind_is_400_naming_the_field(manager_client):
    response = manager_client.post(
        URL, {"file": SimpleUploadedFile("a.csv", b"x")}, format="multipart"
    )
    assert response.status_code == 400 and "kind" in response.json()["errors"]


@override_settings(CMDB_IMPORT_MAX_BYTES=1000)
def test_oversize_is_413(manager_client):
    assert post(manager_client, b"x" * 200_000).status_code == 413
    response = post(manager_client, b"identifier,name,kind\n" + b"x" * 1000)
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The file is larger than 1,000 bytes; split it into smaller files. Nothing was written."
    }


def test_json_is_415(manager_client):
    response = manager_client.post(URL, {"kind": "cis"}, format="json")
    assert response.status_code == 415


def test_the_schema_with_the_endpoint_validates_without_warnings():
    out = StringIO()
    call_command(
        "spectacular",
        "--urlconf",
        __name__,
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        stdout=out,
    )
    assert '"/api/v1/cmdb/imports/"' in out.getvalue()
    assert '"413"' in out.getvalue()


def test_an_anonymous_get_is_401_json_as_the_url_walk_expects(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
