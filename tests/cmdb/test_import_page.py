"""The upload page: who may use it, the column tables and samples from the importer's own
definitions, the report table, the success summary, and 413 for oversize uploads."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from cmdb.imports.run import IMPORTERS, import_csv
from cmdb.models import ConfigurationItem, Licence
from tests.api_mixins import grant
from tests.factories import (
    ConfigurationItemFactory,
    LicenceProductFactory,
    LocationFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
URL = "/cmdb/import/"
SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


@pytest.fixture
def manager(client, role_user):
    user = role_user("configuration_manager")
    client.force_login(user)
    return user


def upload(client, text, *, kind="cis", action="check", name="cis.csv", **headers):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        URL,
        {"kind": kind, "action": action, "file": SimpleUploadedFile(name, data, "text/csv")},
        headers=headers,
    )


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_the_url_name_and_mount_point():
    assert reverse("cmdb-import:import") == URL


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", ["auditor", "release_manager", "ops", "change_manager"])
def test_roles_without_the_permission_get_403(client, role_user, role):
    client.force_login(role_user(role))
    assert client.get(URL).status_code == 403
    assert (
        upload(client, "identifier,name,kind\nweb-01,Web,server\n", action="import").status_code
        == 403
    )
    assert client.get(reverse("cmdb-import:sample", args=["cis"])).status_code == 403
    assert not ConfigurationItem.objects.exists()


def test_the_page_shows_each_kinds_columns_from_the_importer_definitions(client, manager):
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for kind, importer in IMPORTERS.items():
        assert f'id="format-{kind}"' in html
        assert reverse("cmdb-import:sample", args=[kind]) in html
        for column in importer.columns:
            assert f"<code>{column.name}</code>" in html
            assert column.help.split("(")[0].strip()[:30] in html.replace("&#x27;", "'")
    assert "<code>virtual_machine</code>" in html and "<code>per_seat</code>" in html
    assert "<code>attr.ip_address</code>" in html and "an IP address" in html
    assert "Check only (dry run)" in html and ">Import</button>" in html


@pytest.mark.parametrize("kind", list(IMPORTERS))
def test_each_sample_downloads(client, manager, kind):
    response = client.get(reverse("cmdb-import:sample", args=[kind]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == (SAMPLES / f"{kind}.csv").read_bytes()


def test_an_unknown_sample_is_404(client, manager):
    assert client.get(reverse("cmdb-import:sample", args=["nonsense"])).status_code == 404


def test_the_samples_import_cleanly_in_order():
    """The samples name the demo estate's locations and DSL products; given those, each imports
    without a problem, in the order the docs give."""
    for code in ("dc-north", "dc-south", "hq"):
        LocationFactory(code=code)
    for product_name, licence_product, number in (
        ("Nginx", None, "1.26.2"),
        ("Oracle Database", "Oracle Database Enterprise", "19.21"),
        ("Microsoft 365 Apps", "Microsoft 365 Apps", "2410"),
    ):
        lp = LicenceProductFactory(name=licence_product) if licence_product else None
        product = SoftwareProductFactory(name=product_name, licence_product=lp)
        SoftwareVersionFactory(product=product, version=number, with_artefact=False)
    LicenceProductFactory(name="Endpoint Protection Suite")
    LicenceProductFactory(name="Adobe Acrobat Pro")
    for kind in ("licences", "cis", "relationships", "installed-software"):
        report = import_csv(kind=kind, file=(SAMPLES / f"{kind}.csv").read_bytes(), filename=kind)
        assert report.written and not report.errors, (kind, report.problems)
    assert Licence.objects.count() == 3 and ConfigurationItem.objects.count() == 5


def test_a_dry_run_renders_the_report_table_and_writes_nothing(client, manager):
    response = upload(client, "identifier,name,kind\nweb-01,Web,server\nweb-02,Web,rack\n")
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 problem · nothing written" in html
    assert '<td class="row-number">3</td>' in html and "<code>kind</code>" in html
    assert "“rack” is not one of server" in html
    assert not ConfigurationItem.objects.exists()


def test_a_valid_dry_run_shows_the_counts(client, manager):
    ConfigurationItemFactory(identifier="web-01")
    response = upload(client, "identifier,name,kind\nweb-01,Web,server\nweb-02,Web,server\n")
    html = response.content.decode()
    assert "The file is valid. Nothing was written" in html
    assert '<strong>1</strong><span class="muted">to create</span>' in html
    assert '<strong>1</strong><span class="muted">to update</span>' in html
    assert ConfigurationItem.objects.count() == 1


def test_an_import_redirects_to_a_summary_with_links(client, manager):
    response = upload(
        client, "identifier,name,kind\nweb-01,Web,server\nweb-02,Web,server\n", action="import"
    )
    assert response.status_code == 302 and response["Location"] == URL
    assert ConfigurationItem.objects.count() == 2
    assert ConfigurationItem.objects.get(identifier="web-01").history.get().history_user == manager
    html = text(client.get(URL))
    assert "Imported cis.csv: 2 created, 0 updated, 0 unchanged" in html
    assert "web-01" in html and "web-02" in html
    # shown once: a reload does not repeat it
    assert "Imported cis.csv" not in client.get(URL).content.decode()


def test_an_invalid_file_is_not_imported(client, manager):
    response = upload(
        client, "identifier,name,kind\nweb-01,Web,server\nweb-01,Again,server\n", action="import"
    )
    assert response.status_code == 200
    assert "appears already in row 2" in response.content.decode()
    assert not ConfigurationItem.objects.exists()


def test_htmx_gets_the_report_fragment(client, manager):
    response = upload(
        client, "identifier,name,kind\nweb-01,Web,server\n", action="import", HX_Request="true"
    )
    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html and "Imported cis.csv: 1 created" in html
    assert ConfigurationItem.objects.count() == 1


def test_file_level_problems_are_shown(client, manager):
    html = upload(client, "identifier,name,kind,colour\nweb-01,Web,server,red\n").content.decode()
    assert "Unknown column: colour." in html and '<td class="row-number">1</td>' in html
    html = upload(
        client, "identifier,name,kind\nweb-01,Caf\xe9,server\n".encode("latin-1")
    ).content.decode()
    assert '<td class="row-number">file</td>' in html and "not UTF-8 text" in html
    assert "The file is empty" in upload(client, b"").content.decode()


def test_no_file_is_a_form_error(client, manager):
    response = client.post(URL, {"kind": "cis", "action": "check"})
    assert response.status_code == 200
    assert "CSV file: This field is required." in response.content.decode()


@override_settings(CMDB_IMPORT_MAX_BYTES=1000)
def test_a_declared_oversize_upload_is_413_before_it_is_read(client, manager):
    response = upload(client, b"x" * 200_000, action="import")
    assert response.status_code == 413
    assert "larger than 1,000 bytes" in response.content.decode()
    assert not ConfigurationItem.objects.exists()


@override_settings(CMDB_IMPORT_MAX_BYTES=1000)
def test_a_file_just_over_the_limit_is_413_too(client, manager):
    response = upload(client, b"identifier,name,kind\n" + b"x" * 1000, HX_Request="true")
    assert response.status_code == 413
    assert "larger than 1,000 bytes" in response.content.decode()


def test_eleven_megabytes_are_refused_with_413(client, manager):
    response = upload(client, b"identifier,name,kind\n" + b"a,b,server\n" * 1_000_000)
    assert response.status_code == 413
    assert "larger than 10 MB" in response.content.decode()


def test_each_kind_needs_its_own_permissions(client):
    user = grant(UserFactory(), "cmdb.add_configurationitem", "cmdb.view_configurationitem")
    client.force_login(user)
    assert client.get(URL).status_code == 200
    response = upload(client, "licence_product,name,seats\nX,Y,1\n", kind="licences")
    assert response.status_code == 403
    assert "needs cmdb.add_licence, cmdb.change_licence" in response.content.decode()


def test_the_docs_describe_every_column_and_attribute():
    from cmdb.imports.base import attribute_names

    docs = (SAMPLES.parent / "import-format.md").read_text()
    for kind, importer in IMPORTERS.items():
        assert f"— `{kind}`" in docs, kind
        for column in importer.columns:
            assert f"`{column.name}`" in docs, column.name
            for value in column.values:
                assert f"`{value}`" in docs, value
    for name in attribute_names():
        assert f"`attr.{name}`" in docs, name
