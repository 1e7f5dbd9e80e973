"""DSL API: licence products, products and versions — reads, writes, permissions, 409s."""

import pytest
from django.urls import reverse

from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import LicenceProduct, SoftwareProduct, SoftwareVersion
from releasemgmt.core.models import AuditEvent
from tests import api_mixins as api
from tests.dsl_dhs.conftest import stored_files
from tests.factories import (
    InstalledSoftwareFactory,
    LicenceProductFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
)

pytestmark = pytest.mark.django_db

LP_LIST = reverse("dsl_dhs-api:licence-product-list")
PRODUCT_LIST = reverse("dsl_dhs-api:software-product-list")
VERSION_LIST = reverse("dsl_dhs-api:software-version-list")


def lp_url(obj):
    return reverse("dsl_dhs-api:licence-product-detail", kwargs={"pk": obj.pk})


def product_url(obj):
    return reverse("dsl_dhs-api:software-product-detail", kwargs={"pk": obj.pk})


def version_url(obj):
    return reverse("dsl_dhs-api:software-version-detail", kwargs={"pk": obj.pk})


class TestLicenceProductAPI(api.ListObjects, api.GetObject):
    url_name = "dsl_dhs-api:licence-product"
    factory = LicenceProductFactory
    model = LicenceProduct


class TestSoftwareProductAPI(api.ListObjects, api.GetObject):
    url_name = "dsl_dhs-api:software-product"
    factory = SoftwareProductFactory
    model = SoftwareProduct


class TestSoftwareVersionAPI(api.ListObjects, api.GetObject):
    url_name = "dsl_dhs-api:software-version"
    factory = SoftwareVersionFactory
    model = SoftwareVersion


def test_product_list_counts_versions_and_names_latest_authorised_in_fixed_queries(
    token_client, role_user, django_assert_max_num_queries
):
    # given 25 licensed products, each with two authorised versions and a newer draft
    for _ in range(25):
        product = SoftwareProductFactory(licensed=True)
        SoftwareVersionFactory(product=product, version="1.0")
        SoftwareVersionFactory(product=product, version="1.1")
        SoftwareVersionFactory(product=product, version="2.0", status=VersionStatus.DRAFT)
    client = token_client(role_user("auditor"))
    # when
    with django_assert_max_num_queries(8):
        response = client.get(PRODUCT_LIST, {"page_size": 100})
    # then
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 25
    assert {row["version_count"] for row in rows} == {3}
    assert {row["latest_authorised_version"]["version"] for row in rows} == {"1.1"}
    assert all(row["licence_product_name"] for row in rows)


def test_version_list_with_checks_is_fixed_queries(
    token_client, role_user, django_assert_max_num_queries
):
    from dsl_dhs.services import software_version_verify

    for version in SoftwareVersionFactory.create_batch(40):
        software_version_verify(version=version)
    client = token_client(role_user("ops"))
    with django_assert_max_num_queries(8):
        response = client.get(VERSION_LIST, {"page_size": 100})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 40
    assert {row["last_check_result"] for row in rows} == {"ok"}
    assert all(row["download_url"].endswith("/download/") for row in rows)


def test_version_filters_and_search(token_client, role_user):
    nginx = SoftwareProductFactory(name="Nginx")
    SoftwareVersionFactory(product=nginx, version="1.26.2")
    SoftwareVersionFactory(product=nginx, version="1.27.3", status=VersionStatus.QUARANTINED)
    SoftwareVersionFactory(version="9.9")
    client = token_client(role_user("auditor"))

    by_product = client.get(VERSION_LIST, {"product": nginx.pk}).json()
    assert {row["version"] for row in by_product["results"]} == {"1.26.2", "1.27.3"}
    by_status = client.get(VERSION_LIST, {"status": "quarantined"}).json()
    assert [row["version"] for row in by_status["results"]] == ["1.27.3"]
    searched = client.get(VERSION_LIST, {"search": "nginx 1.26"}).json()
    assert [row["version"] for row in searched["results"]] == ["1.26.2"]
    bad = client.get(VERSION_LIST, {"status": "bogus"})
    assert bad.status_code == 400
    assert "status" in bad.json()["errors"]


# Licence products


def test_licence_product_crud_by_configuration_manager(cm_api, config_manager):
    created = cm_api.post(LP_LIST, {"name": "Visio Plan 2", "vendor": "Microsoft"})
    assert created.status_code == 201, created.content
    lp = LicenceProduct.objects.get(pk=created.json()["id"])
    assert created.json()["software_product_count"] == 0
    assert AuditEvent.objects.filter(
        action="dsl_dhs.licenceproduct.create", object_id=str(lp.pk), actor=config_manager
    ).exists()

    updated = cm_api.patch(lp_url(lp), {"vendor": "Microsoft Corporation"})
    assert updated.status_code == 200, updated.content
    lp.refresh_from_db()
    assert lp.vendor == "Microsoft Corporation"

    assert cm_api.delete(lp_url(lp)).status_code == 204
    assert not LicenceProduct.objects.filter(pk=lp.pk).exists()


def test_licence_product_writes_are_refused_to_a_release_manager(rm_api):
    lp = LicenceProductFactory()
    assert rm_api.get(lp_url(lp)).status_code == 200
    assert rm_api.post(LP_LIST, {"name": "X"}).status_code == 403
    assert rm_api.patch(lp_url(lp), {"vendor": "Y"}).status_code == 403
    assert rm_api.delete(lp_url(lp)).status_code == 403
    assert LicenceProduct.objects.filter(pk=lp.pk).exists()


def test_duplicate_licence_product_name_is_400_naming_the_field(cm_api):
    LicenceProductFactory(name="Adobe Acrobat Pro")
    response = cm_api.post(LP_LIST, {"name": "adobe acrobat pro"})
    assert response.status_code == 400
    assert "exists" in response.json()["detail"]


def test_deleting_a_licence_product_in_use_is_409(cm_api):
    product = SoftwareProductFactory(licensed=True)
    response = cm_api.delete(lp_url(product.licence_product))
    assert response.status_code == 409
    assert "still in use" in response.json()["detail"]
    assert LicenceProduct.objects.filter(pk=product.licence_product_id).exists()


# Software products


def test_software_product_crud(cm_api):
    lp = LicenceProductFactory()
    created = cm_api.post(
        PRODUCT_LIST, {"name": "Visio", "vendor": "Microsoft", "licence_product": lp.pk}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["licence_product_name"] == lp.name
    assert body["version_count"] == 0
    assert body["latest_authorised_version"] is None
    product = SoftwareProduct.objects.get(pk=body["id"])

    updated = cm_api.patch(product_url(product), {"licence_product": None})
    assert updated.status_code == 200, updated.content
    assert updated.json()["licence_product"] is None

    assert cm_api.delete(product_url(product)).status_code == 204


def test_software_product_writes_are_refused_to_a_release_manager(rm_api):
    product = SoftwareProductFactory()
    assert rm_api.post(PRODUCT_LIST, {"name": "X"}).status_code == 403
    assert rm_api.put(product_url(product), {"name": "Y"}).status_code == 403
    assert rm_api.delete(product_url(product)).status_code == 403


def test_deleting_a_product_with_versions_is_409(cm_api):
    version = SoftwareVersionFactory()
    response = cm_api.delete(product_url(version.product))
    assert response.status_code == 409
    assert SoftwareProduct.objects.filter(pk=version.product_id).exists()


def test_unknown_licence_product_is_400_naming_the_field(cm_api):
    response = cm_api.post(PRODUCT_LIST, {"name": "X", "licence_product": 999999})
    assert response.status_code == 400
    assert "licence_product" in response.json()["errors"]


def test_malformed_json_is_400_and_wrong_media_type_is_415(cm_api):
    malformed = cm_api.generic("POST", PRODUCT_LIST, "{not json", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json()["detail"]
    wrong = cm_api.generic("POST", PRODUCT_LIST, "name=X", content_type="text/plain")
    assert wrong.status_code == 415
    assert "text/plain" in wrong.json()["detail"]


# Software versions without artefacts (JSON)


def test_version_created_as_json_is_a_draft_without_artefact(cm_api, config_manager):
    product = SoftwareProductFactory()
    response = cm_api.post(
        VERSION_LIST, {"product": product.pk, "version": "2.0.0", "release_notes": "New UI"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["has_artefact"] is False
    assert body["sha256"] == "" and body["size"] is None
    assert body["download_url"] is None
    assert body["created_by"] == config_manager.username


def test_version_create_refuses_duplicates_and_path_like_names(cm_api):
    version = SoftwareVersionFactory(version="1.0.0")
    duplicate = cm_api.post(VERSION_LIST, {"product": version.product_id, "version": "1.0.0"})
    assert duplicate.status_code == 400
    assert "already has this version" in duplicate.json()["detail"]
    sneaky = cm_api.post(VERSION_LIST, {"product": version.product_id, "version": "../etc"})
    assert sneaky.status_code == 400
    assert "version" in sneaky.json()["errors"]


def test_sha256_without_artefact_is_400(cm_api):
    product = SoftwareProductFactory()
    response = cm_api.post(
        VERSION_LIST, {"product": product.pk, "version": "1", "sha256": "0" * 64}
    )
    assert response.status_code == 400
    assert "sha256" in response.json()["errors"]


def test_version_writes_are_refused_to_a_release_manager(rm_api):
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    assert (
        rm_api.post(VERSION_LIST, {"product": version.product_id, "version": "9"}).status_code
        == 403
    )
    assert rm_api.patch(version_url(version), {"release_notes": "x"}).status_code == 403
    assert rm_api.delete(version_url(version)).status_code == 403
    assert SoftwareVersion.objects.filter(pk=version.pk).exists()


def test_update_release_notes_and_rename_only_a_draft(cm_api):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False, version="1.0")
    renamed = cm_api.patch(version_url(draft), {"version": "1.0.1", "release_notes": "Fixes"})
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["version"] == "1.0.1"

    authorised = SoftwareVersionFactory(version="2.0")
    refused = cm_api.patch(version_url(authorised), {"version": "2.0.1"})
    assert refused.status_code == 409
    assert "only a draft can be renamed" in refused.json()["detail"]
    notes = cm_api.patch(version_url(authorised), {"release_notes": "Known issue: none"})
    assert notes.status_code == 200
    authorised.refresh_from_db()
    assert authorised.version == "2.0" and authorised.release_notes == "Known issue: none"


def test_state_fields_are_read_only(cm_api):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = cm_api.patch(
        version_url(draft), {"status": "authorised", "sha256": "0" * 64, "size": 5}
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.sha256 == "" and draft.size is None


def test_delete_draft_removes_its_artefact_and_authorised_is_409(
    cm_api, media, django_capture_on_commit_callbacks
):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    authorised = SoftwareVersionFactory()
    assert len(stored_files(media)) == 2

    refused = cm_api.delete(version_url(authorised))
    assert refused.status_code == 409
    assert "retire it" in refused.json()["detail"]

    with django_capture_on_commit_callbacks(execute=True):
        deleted = cm_api.delete(version_url(draft))
    assert deleted.status_code == 204
    assert not SoftwareVersion.objects.filter(pk=draft.pk).exists()
    # the draft's file went after commit; the authorised one stays
    assert stored_files(media) == [authorised.artefact.name]


def test_delete_of_an_installed_retired_version_is_409(cm_api):
    version = SoftwareVersionFactory(status=VersionStatus.RETIRED)
    InstalledSoftwareFactory(version=version)
    response = cm_api.delete(version_url(version))
    assert response.status_code == 409
    assert "still in use" in response.json()["detail"]
    assert SoftwareVersion.objects.filter(pk=version.pk).exists()
