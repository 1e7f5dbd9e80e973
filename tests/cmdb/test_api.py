"""The CMDB API: generic checks per endpoint (401/403/200, writes with the stored fields and the
audit row, query counts with many rows) and each endpoint's own rules."""

import itertools

import pytest
from django.urls import reverse

from cmdb.choices import CIStatus, ErrorKind, ErrorSource, LicenceMetric, RelationshipKind
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from cmdb.services.software import installed_software_record
from releasemgmt.core.models import AuditEvent
from tests import api_mixins as api
from tests.factories import (
    ConfigurationItemFactory,
    DiscrepancyFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    LicenceProductFactory,
    LocationFactory,
    RelationshipFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
)

pytestmark = pytest.mark.django_db


class TestConfigurationItemAPI(
    api.ListObjects, api.GetObject, api.CreateObject, api.UpdateObject, api.DeleteObject
):
    url_name = "cmdb-api:ci"
    factory = ConfigurationItemFactory
    model = ConfigurationItem

    def create_data(self):
        LocationFactory(code="dc-north")
        return {
            "identifier": "web-prod-09",
            "name": "Web server 09",
            "kind": "server",
            "environment": "staging",
            "location": "dc-north",
            "attributes": {"os": "Debian 12", "cpu_cores": 8, "ip_address": "10.0.0.9"},
        }

    def update_data(self):
        return {"name": "Renamed", "attributes": {"os": "Debian 13", "memory_gb": 64}}


class TestRelationshipAPI(api.ListObjects, api.GetObject, api.CreateObject, api.DeleteObject):
    url_name = "cmdb-api:relationship"
    factory = RelationshipFactory
    model = Relationship

    def create_data(self):
        service = ConfigurationItemFactory(service=True)
        server = ConfigurationItemFactory()
        return {"source": service.pk, "target": server.pk, "kind": "runs_on"}


class TestInstalledSoftwareAPI(api.ListObjects, api.GetObject, api.CreateObject):
    url_name = "cmdb-api:installed-software"
    factory = InstalledSoftwareFactory
    model = InstalledSoftware
    audit_actions = {"create": "cmdb.installedsoftware.record"}
    max_list_queries = 8

    def audit_target(self, obj):
        return obj.ci  # the record is an event in the CI's life

    def create_data(self):
        return {
            "ci": ConfigurationItemFactory().pk,
            "version": SoftwareVersionFactory(with_artefact=False).pk,
            "source": "agent",
            "source_reference": "agent web-01",
        }


class TestLicenceAPI(
    api.ListObjects, api.GetObject, api.CreateObject, api.UpdateObject, api.DeleteObject
):
    url_name = "cmdb-api:licence"
    factory = LicenceFactory
    model = Licence

    def create_data(self):
        return {
            "licence_product": LicenceProductFactory().pk,
            "name": "Office — 2027",
            "metric": "per_seat",
            "seats": 50,
            "low_seat_threshold": 5,
            "valid_from": "2026-01-01",
            "valid_until": "2027-12-31",
            "vendor": "Contoso",
        }

    def update_data(self):
        return {"seats": 75, "contract_reference": "EA-2027"}


class TestErrorAPI(api.ListObjects, api.GetObject, api.CreateObject):
    url_name = "cmdb-api:error"
    factory = DiscrepancyFactory
    model = Discrepancy
    audit_actions = {"create": "cmdb.discrepancy.report"}

    def create_data(self):
        return {
            "kind": "version_mismatch",
            "subject": "Nginx on web-01",
            "expected": "1.26.2",
            "found": "1.24.0",
            "ci": ConfigurationItemFactory().pk,
            "reference": "INC-1234",
        }


# Configuration items.


def _cm(role_user, token_client):
    return token_client(role_user("configuration_manager"))


def test_ci_fields_and_class_filter(token_client, role_user):
    ConfigurationItemFactory(identifier="web-01")
    ConfigurationItemFactory(service=True, identifier="billing")
    ConfigurationItemFactory(workstation=True, identifier="ws-1", environment="test")
    client = token_client(role_user("auditor"))
    url = reverse("cmdb-api:ci-list")

    def ids(**params):
        return sorted(row["identifier"] for row in client.get(url, params).json()["results"])

    assert ids(**{"class": "hardware"}) == ["web-01", "ws-1"]
    assert ids(**{"class": "service"}) == ["billing"]
    assert ids(kind="workstation") == ["ws-1"]
    assert ids(environment="test") == ["ws-1"]
    assert ids(search="BILL") == ["billing"]
    assert client.get(url, {"class": "plants"}).status_code == 400
    row = client.get(url, {"search": "web-01"}).json()["results"][0]
    assert row["ci_class"] == "hardware"
    assert row["attributes"] == {"os": "Debian 12", "cpu_cores": 8}


@pytest.mark.parametrize(
    ("kind", "attributes", "field"),
    [
        ("server", {"colour": "blue"}, "attributes.colour"),
        ("server", {"cpu_cores": "eight"}, "attributes.cpu_cores"),
        ("server", {"ip_address": "10.0.0.300"}, "attributes.ip_address"),
        ("service", {"tier": 7}, "attributes.tier"),
        ("service", {"os": "Debian"}, "attributes.os"),
        ("network_device", {"ports": -1}, "attributes.ports"),
    ],
)
def test_ci_attributes_are_validated_per_kind(token_client, role_user, kind, attributes, field):
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:ci-list"),
        {"identifier": "x-1", "name": "X", "kind": kind, "attributes": attributes},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == [field]
    assert body["detail"].startswith(field)
    assert not ConfigurationItem.objects.exists()


def test_ci_attributes_must_be_an_object(token_client, role_user):
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:ci-list"),
        {"identifier": "x-1", "name": "X", "kind": "server", "attributes": ["os"]},
        format="json",
    )
    assert response.status_code == 400
    assert "attributes" in response.json()["errors"]


def test_unknown_kind_is_400(token_client, role_user):
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:ci-list"), {"identifier": "x", "name": "X", "kind": "toaster"}
    )
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]


def test_duplicate_identifier_is_400_whatever_the_case(token_client, role_user):
    ConfigurationItemFactory(identifier="web-01")
    client = _cm(role_user, token_client)
    response = client.post(
        reverse("cmdb-api:ci-list"),
        {"identifier": "WEB-01", "name": "Other", "kind": "server"},
        format="json",
    )
    assert response.status_code == 400
    assert "exists" in response.json()["errors"]["identifier"]
    assert ConfigurationItem.objects.count() == 1
    # renaming another CI onto it is refused the same way
    other = ConfigurationItemFactory(identifier="web-02")
    response = client.patch(
        reverse("cmdb-api:ci-detail", args=[other.pk]), {"identifier": "Web-01"}, format="json"
    )
    assert response.status_code == 400
    assert "identifier" in response.json()["errors"]


def test_ci_status_cannot_be_set_to_retired_by_update(token_client, role_user):
    ci = ConfigurationItemFactory()
    response = _cm(role_user, token_client).patch(
        reverse("cmdb-api:ci-detail", args=[ci.pk]), {"status": "retired"}, format="json"
    )
    assert response.status_code == 400
    assert "retire" in response.json()["errors"]["status"][0]


def test_retire_needs_a_reason_and_permission(token_client, role_user):
    ci = ConfigurationItemFactory()
    url = reverse("cmdb-api:ci-retire", args=[ci.pk])
    assert token_client(role_user("release_manager")).post(url, {"reason": "x"}).status_code == 403
    client = _cm(role_user, token_client)
    assert client.post(url, {}).status_code == 400
    response = client.post(url, {"reason": "Decommissioned"})
    assert response.status_code == 200
    assert response.json()["status"] == "retired"
    assert client.post(url, {"reason": "again"}).status_code == 409
    assert AuditEvent.objects.filter(
        action="cmdb.configurationitem.retire", object_id=str(ci.pk), reason="Decommissioned"
    ).exists()


def test_ci_with_software_history_cannot_be_deleted(token_client, role_user):
    row = InstalledSoftwareFactory()
    response = _cm(role_user, token_client).delete(reverse("cmdb-api:ci-detail", args=[row.ci_id]))
    assert response.status_code == 409
    assert "retire" in response.json()["detail"]
    assert ConfigurationItem.objects.filter(pk=row.ci_id).exists()


def test_ci_history_shows_who_changed_what(token_client, role_user):
    manager = role_user("configuration_manager")
    client = token_client(manager)
    created = client.post(
        reverse("cmdb-api:ci-list"),
        {"identifier": "db-01", "name": "DB", "kind": "server", "attributes": {"os": "Debian 12"}},
        format="json",
    ).json()
    client.patch(
        reverse("cmdb-api:ci-detail", args=[created["id"]]),
        {"environment": "staging", "attributes": {"os": "Debian 13"}},
        format="json",
    )
    body = client.get(reverse("cmdb-api:ci-history", args=[created["id"]])).json()
    assert body["count"] == 2
    changed, first = body["results"]
    assert first["action"] == "created" and first["who"] == (
        manager.get_full_name() or manager.username
    )
    assert changed["action"] == "changed"
    assert {"field": "environment", "before": "Production", "after": "Staging"} in changed[
        "changes"
    ]
    assert {"field": "attribute os", "before": "Debian 12", "after": "Debian 13"} in changed[
        "changes"
    ]


def test_ci_history_pages_keep_the_diff_across_pages(token_client, role_user):
    client = _cm(role_user, token_client)
    ci = client.post(
        reverse("cmdb-api:ci-list"), {"identifier": "a", "name": "v0", "kind": "server"}
    ).json()
    for n in range(1, 4):
        client.patch(reverse("cmdb-api:ci-detail", args=[ci["id"]]), {"name": f"v{n}"})
    url = reverse("cmdb-api:ci-history", args=[ci["id"]])
    page1 = client.get(url, {"page_size": 2}).json()
    page2 = client.get(url, {"page_size": 2, "page": 2}).json()
    assert page1["count"] == 4 and page1["next"]
    # the last entry of page 1 (v1 → v2) is diffed against the first of page 2
    assert page1["results"][1]["changes"] == [{"field": "name", "before": "v1", "after": "v2"}]
    assert page2["results"][0]["changes"] == [{"field": "name", "before": "v0", "after": "v1"}]
    assert page2["results"][1]["action"] == "created"


# Relationships.


def test_relationship_to_itself_is_400(token_client, role_user):
    ci = ConfigurationItemFactory()
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:relationship-list"),
        {"source": ci.pk, "target": ci.pk, "kind": "depends_on"},
    )
    assert response.status_code == 400
    assert "itself" in response.json()["errors"]["target"]


def test_part_of_cycle_is_400(token_client, role_user):
    a, b, c = ConfigurationItemFactory.create_batch(3, service=True)
    RelationshipFactory(source=a, target=b, kind=RelationshipKind.PART_OF)
    RelationshipFactory(source=b, target=c, kind=RelationshipKind.PART_OF)
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:relationship-list"), {"source": c.pk, "target": a.pk, "kind": "part_of"}
    )
    assert response.status_code == 400
    assert "cycle" in response.json()["detail"]
    assert Relationship.objects.count() == 2


def test_duplicate_relationship_is_409(token_client, role_user):
    rel = RelationshipFactory()
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:relationship-list"),
        {"source": rel.source_id, "target": rel.target_id, "kind": rel.kind},
    )
    assert response.status_code == 409
    assert "exists" in response.json()["detail"]


def test_relationship_filters_and_no_update(token_client, role_user):
    web = ConfigurationItemFactory(identifier="web-01")
    billing = ConfigurationItemFactory(service=True, identifier="billing")
    portal = ConfigurationItemFactory(service=True, identifier="portal")
    RelationshipFactory(source=billing, target=web, kind="runs_on")
    RelationshipFactory(source=portal, target=billing, kind="depends_on")
    client = _cm(role_user, token_client)
    url = reverse("cmdb-api:relationship-list")
    assert client.get(url, {"ci": billing.pk}).json()["count"] == 2
    assert client.get(url, {"kind": "runs_on"}).json()["results"][0]["label"] == (
        "billing runs on web-01"
    )
    assert client.get(url, {"target": billing.pk}).json()["count"] == 1
    rel = Relationship.objects.first()
    detail = reverse("cmdb-api:relationship-detail", args=[rel.pk])
    assert client.patch(detail, {"kind": "depends_on"}).status_code == 405


# Installed software.


def test_recording_a_new_version_keeps_the_old_one_as_history(token_client, role_user):
    ci = ConfigurationItemFactory()
    old = SoftwareVersionFactory(with_artefact=False, version="1.0")
    new = SoftwareVersionFactory(with_artefact=False, product=old.product, version="2.0")
    client = _cm(role_user, token_client)
    url = reverse("cmdb-api:installed-software-list")
    first = client.post(url, {"ci": ci.pk, "version": old.pk})
    assert first.status_code == 201
    again = client.post(url, {"ci": ci.pk, "version": old.pk})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    second = client.post(url, {"ci": ci.pk, "version": new.pk, "source": "release"})
    assert second.status_code == 201
    current = client.get(url, {"ci": ci.pk, "current": "true"}).json()["results"]
    history = client.get(url, {"ci": ci.pk, "current": "false"}).json()["results"]
    assert [row["version_label"] for row in current] == ["2.0"]
    assert [row["version_label"] for row in history] == ["1.0"]
    assert history[0]["removed_at"] is not None


def test_installed_software_rows_cannot_be_edited_or_deleted(token_client):
    row = InstalledSoftwareFactory()
    admin = token_client(api.UserFactory(superuser=True))
    url = reverse("cmdb-api:installed-software-detail", args=[row.pk])
    assert admin.patch(url, {"source": "import"}).status_code == 405
    assert admin.delete(url).status_code == 405


def test_remove_closes_the_installation(token_client, role_user):
    row = InstalledSoftwareFactory()
    url = reverse("cmdb-api:installed-software-remove", args=[row.pk])
    assert token_client(role_user("ops")).post(url).status_code == 403
    client = _cm(role_user, token_client)
    response = client.post(url)
    assert response.status_code == 200
    assert response.json()["is_current"] is False
    assert client.post(url).status_code == 200  # idempotent


def test_licence_of_another_product_is_400(token_client, role_user):
    version = SoftwareVersionFactory(product=SoftwareProductFactory(licensed=True))
    wrong = LicenceFactory()
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:installed-software-list"),
        {"ci": ConfigurationItemFactory().pk, "version": version.pk, "licence": wrong.pk},
    )
    assert response.status_code == 400
    assert "licence" in response.json()["errors"]
    assert not InstalledSoftware.objects.exists()


def test_installation_allocates_a_licence_and_shows_it(token_client, role_user):
    product = SoftwareProductFactory(licensed=True)
    licence = LicenceFactory(licence_product=product.licence_product, seats=1)
    version = SoftwareVersionFactory(product=product)
    client = _cm(role_user, token_client)
    url = reverse("cmdb-api:installed-software-list")
    first = client.post(url, {"ci": ConfigurationItemFactory().pk, "version": version.pk}).json()
    assert first["licence"] == licence.pk
    second = client.post(url, {"ci": ConfigurationItemFactory().pk, "version": version.pk}).json()
    assert second["licence"] is None
    assert Discrepancy.objects.filter(kind=ErrorKind.LICENCE_MISSING, ci_id=second["ci"]).exists()


# Licences.


def test_licence_usage_fields_and_filters(token_client, role_user):
    product = SoftwareProductFactory(licensed=True)
    full = LicenceFactory(licence_product=product.licence_product, seats=2, low_seat_threshold=0)
    LicenceFactory(licence_product=product.licence_product, seats=100, name="roomy")
    expired = LicenceFactory(valid_from="2020-01-01", valid_until="2020-12-31", name="old")
    version = SoftwareVersionFactory(product=product)
    for _ in range(3):
        InstalledSoftwareFactory(version=version, licence=full)
    client = token_client(role_user("auditor"))
    url = reverse("cmdb-api:licence-list")
    (over,) = client.get(url, {"over": "true"}).json()["results"]
    assert over["id"] == full.pk
    assert (over["seats_in_use"], over["seats_free"], over["is_over"], over["is_low"]) == (
        3,
        0,
        True,
        True,
    )
    assert [r["id"] for r in client.get(url, {"expired": "true"}).json()["results"]] == [expired.pk]
    assert {r["name"] for r in client.get(url, {"low": "false"}).json()["results"]} == {
        "roomy",
        "old",
    }


def test_licence_seats_are_required_unless_site(token_client, role_user):
    client = _cm(role_user, token_client)
    url = reverse("cmdb-api:licence-list")
    product = LicenceProductFactory()
    response = client.post(
        url, {"licence_product": product.pk, "name": "x", "metric": "per_device"}
    )
    assert response.status_code == 400
    assert "seats" in response.json()["errors"]
    response = client.post(
        url,
        {
            "licence_product": product.pk,
            "name": "x",
            "metric": "per_seat",
            "seats": 3,
            "valid_from": "2026-02-01",
            "valid_until": "2026-01-01",
        },
    )
    assert response.status_code == 400
    assert "valid_until" in response.json()["errors"]
    response = client.post(url, {"licence_product": product.pk, "name": "site", "metric": "site"})
    assert response.status_code == 201
    assert response.json()["seats_free"] is None


def test_seats_cannot_be_written(token_client, role_user):
    licence = LicenceFactory()
    response = _cm(role_user, token_client).patch(
        reverse("cmdb-api:licence-detail", args=[licence.pk]), {"seats_in_use": 0}
    )
    assert response.status_code == 200
    assert response.json()["seats_in_use"] == 0  # derived; the given value was ignored
    assert not hasattr(Licence, "seats_in_use")


def test_licence_in_use_cannot_be_deleted(token_client, role_user):
    licence = LicenceFactory()
    InstalledSoftwareFactory(licence=licence)
    response = _cm(role_user, token_client).delete(
        reverse("cmdb-api:licence-detail", args=[licence.pk])
    )
    assert response.status_code == 409
    assert Licence.objects.filter(pk=licence.pk).exists()


def test_license_url_keeps_us_spelling():
    assert reverse("cmdb-api:licence-list") == "/api/v1/cmdb/licenses/"


# Errors.


def test_resolve_needs_a_note_permission_and_is_409_twice(token_client, role_user):
    record = DiscrepancyFactory()
    url = reverse("cmdb-api:error-resolve", args=[record.pk])
    assert (
        token_client(role_user("release_manager")).post(url, {"resolution": "x"}).status_code == 403
    )
    client = _cm(role_user, token_client)
    response = client.post(url, {"resolution": ""})
    assert response.status_code == 400
    assert "resolution" in response.json()["errors"]
    response = client.post(url, {"resolution": "Agent re-ran; versions agree."})
    assert response.status_code == 200
    body = response.json()
    assert body["is_open"] is False and body["resolution"] == "Agent re-ran; versions agree."
    again = client.post(url, {"resolution": "twice"})
    assert again.status_code == 409
    assert "already resolved" in again.json()["detail"]
    record.refresh_from_db()
    assert record.resolution == "Agent re-ran; versions agree."


def test_manual_error_is_recorded_once(token_client, role_user):
    ci = ConfigurationItemFactory()
    client = _cm(role_user, token_client)
    data = {"kind": "duplicate_identity", "subject": "asset tag A-17", "ci": ci.pk}
    response = client.post(reverse("cmdb-api:error-list"), data)
    assert response.status_code == 201
    body = response.json()
    assert (body["source"], body["category"], body["is_open"]) == (
        ErrorSource.MANUAL,
        "cmdb",
        True,
    )
    again = client.post(reverse("cmdb-api:error-list"), data)
    assert again.status_code == 409
    assert again.json()["id"] == body["id"]
    # what the service decides cannot be sent
    forced = client.post(
        reverse("cmdb-api:error-list"),
        {"kind": "seats_exceeded", "subject": "y", "source": "verification", "category": "cmdb"},
    ).json()
    assert (forced["source"], forced["category"]) == ("manual", "licence")


def test_error_filters(token_client, role_user):
    ci = ConfigurationItemFactory()
    DiscrepancyFactory(ci=ci, kind=ErrorKind.VERSION_MISMATCH, source=ErrorSource.AGENT_REPORT)
    DiscrepancyFactory(ci=None, kind=ErrorKind.SEATS_EXCEEDED, licence=LicenceFactory())
    resolved = DiscrepancyFactory(resolved_at="2026-11-01T00:00:00Z", resolution="done")
    client = token_client(role_user("auditor"))
    url = reverse("cmdb-api:error-list")

    def count(**params):
        return client.get(url, params).json()["count"]

    assert count(category="licence") == 1
    assert count(kind="version_mismatch") == 2
    assert count(source="agent_report") == 1
    assert count(open="false") == 1
    assert count(open="true") == 2
    assert count(ci=ci.pk) == 1
    assert count(detected_after="2000-01-01T00:00:00Z") == 3
    assert count(detected_before="2000-01-01T00:00:00Z") == 0
    assert client.get(url, {"detected_after": "soon"}).status_code == 400
    assert (
        client.get(reverse("cmdb-api:error-detail", args=[resolved.pk])).json()["is_open"] is False
    )


def test_every_cmdb_endpoint_is_in_the_api_root(token_client, user):
    body = token_client(user).get("/api/v1/").json()
    for prefix in (
        "cmdb/cis",
        "cmdb/relationships",
        "cmdb/installed-software",
        "cmdb/licenses",
        "cmdb/errors",
    ):
        assert body[prefix].endswith(f"/api/v1/{prefix}/")


def test_list_endpoints_cost_the_same_for_500_rows(
    token_client, role_user, django_assert_max_num_queries
):
    product = SoftwareProductFactory(licensed=True)
    version = SoftwareVersionFactory(product=product, with_artefact=False)
    licence = LicenceFactory(licence_product=product.licence_product, seats=1000)
    cis = ConfigurationItem.objects.bulk_create(
        ConfigurationItemFactory.build(identifier=f"bulk-{n:04d}") for n in range(500)
    )
    InstalledSoftware.objects.bulk_create(
        InstalledSoftwareFactory.build(ci=ci, version=version, licence=licence) for ci in cis
    )
    Relationship.objects.bulk_create(
        Relationship(source=a, target=b, kind="depends_on")
        for a, b in itertools.pairwise([*cis, cis[0]])
    )
    Discrepancy.objects.bulk_create(
        DiscrepancyFactory.build(ci=ci, fingerprint=f"f{ci.pk}") for ci in cis
    )
    Licence.objects.bulk_create(
        LicenceFactory.build(licence_product=product.licence_product, name=f"L{n}")
        for n in range(500)
    )
    client = token_client(role_user("auditor"))
    for name in ("ci", "relationship", "installed-software", "licence", "error"):
        with django_assert_max_num_queries(8):
            response = client.get(reverse(f"cmdb-api:{name}-list"), {"page_size": 500})
        assert response.status_code == 200
        assert len(response.json()["results"]) == 500, name


def test_licence_metric_site_has_no_seats_free(token_client, role_user):
    licence = LicenceFactory(metric=LicenceMetric.SITE, seats=None)
    body = (
        token_client(role_user("auditor"))
        .get(reverse("cmdb-api:licence-detail", args=[licence.pk]))
        .json()
    )
    assert body["seats_free"] is None and body["is_over"] is False


def test_ci_status_choices_include_retired_for_reading(token_client, role_user):
    ci = ConfigurationItemFactory(retired=True)
    body = (
        token_client(role_user("auditor")).get(reverse("cmdb-api:ci-detail", args=[ci.pk])).json()
    )
    assert body["status"] == CIStatus.RETIRED


def test_installed_software_service_is_used_for_history(role_user):
    # the API's create path and the service agree on what "current" means
    ci = ConfigurationItemFactory()
    version = SoftwareVersionFactory(with_artefact=False)
    row = installed_software_record(ci=ci, version=version, by=role_user("configuration_manager"))
    assert row.is_current


def test_installation_dated_before_the_current_one_is_400(token_client, role_user):
    row = InstalledSoftwareFactory()
    newer = SoftwareVersionFactory(product=row.product, with_artefact=False)
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:installed-software-list"),
        {"ci": row.ci_id, "version": newer.pk, "installed_at": "2001-01-01T00:00:00Z"},
    )
    assert response.status_code == 400
    assert "installed_at" in response.json()["errors"]
    row.refresh_from_db()
    assert row.removed_at is None  # nothing half-written


@pytest.mark.parametrize(
    "payload",
    [
        {"identifier": "", "name": "x", "kind": "server"},
        {"identifier": "x", "name": "x", "kind": "server", "location": "nowhere"},
        {"identifier": "x", "name": "x", "kind": "server", "hardware_model": 99999},
        {"identifier": "x" * 101, "name": "x", "kind": "server"},
        {"identifier": "x", "name": "x", "kind": "server", "environment": "moon"},
    ],
)
def test_bad_ci_input_is_400_naming_the_field(token_client, role_user, payload):
    response = _cm(role_user, token_client).post(
        reverse("cmdb-api:ci-list"), payload, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]
    assert not ConfigurationItem.objects.exists()


@pytest.mark.django_db
def test_an_id_filter_past_the_integer_range_is_a_400(token_client, django_user_model):
    """Issue 12: `?ci=` with a number the database cannot hold answered 500 (schemathesis)."""
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    response = token_client(admin).get("/api/v1/cmdb/relationships/", {"ci": "9" * 30})
    assert response.status_code == 400, response.content
    assert "ci" in response.json()["errors"]
