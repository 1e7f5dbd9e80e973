"""CMDB pages: they render for a reader, filter, paginate at a fixed query cost, show forms'
errors next to the fields, and show write actions only to those who may use them."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from cmdb import selectors, services
from cmdb.choices import ErrorKind
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
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
from tests.plans import bitmap_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client, role_user):
    client.force_login(role_user("auditor"))
    return client


@pytest.fixture
def manager_user(role_user):
    return role_user("configuration_manager")


@pytest.fixture
def manager(client, manager_user):
    client.force_login(manager_user)
    return client


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# The CI list.


def test_ci_list_filters_and_counts(reader):
    north = LocationFactory(code="dc-north", name="Data centre North")
    ConfigurationItemFactory(identifier="web-01", location=north)
    ConfigurationItemFactory(identifier="web-02", environment="staging")
    ConfigurationItemFactory(service=True, identifier="billing")
    ConfigurationItemFactory(workstation=True, identifier="ws-01", status="maintenance")
    url = reverse("cmdb:ci-list")
    page = text(reader.get(url))
    assert "4 configuration items" in page
    assert 'class="badge env-staging">Staging' in page
    assert 'class="badge warn">Maintenance</span> 1' in page

    def shown(**params):
        body = reader.get(url, params).content.decode()
        return sorted(re.findall(r'href="/cmdb/cis/\d+/">([^<]+)</a>', body))

    assert shown(search="WEB") == ["web-01", "web-02"]
    assert shown(**{"class": "service"}) == ["billing"]
    assert shown(kind="workstation") == ["ws-01"]
    assert shown(status="maintenance") == ["ws-01"]
    assert shown(environment="staging") == ["web-02"]
    assert shown(location="dc-north") == ["web-01"]
    invalid = reader.get(url, {"location": "nowhere"})
    assert invalid.status_code == 400
    assert "No configuration item matches" in invalid.content.decode()


def test_ci_list_pages_at_a_fixed_query_cost(reader, django_assert_max_num_queries):
    location = LocationFactory()
    ConfigurationItem.objects.bulk_create(
        ConfigurationItemFactory.build(identifier=f"ci-{n:04d}", location=location)
        for n in range(450)
    )
    url = reverse("cmdb:ci-list")
    for size in (25, 200):
        with django_assert_max_num_queries(10):
            response = reader.get(url, {"page_size": size, "page": 2})
        body = response.content.decode()
        assert body.count('href="/cmdb/cis/') == size
        assert f"{size + 1}–{2 * size} of 450" in body
    # an unknown page size falls back to the default; an unknown page to the last
    assert reader.get(url, {"page_size": 7}).content.decode().count('href="/cmdb/cis/') == 50
    assert "Page 9 of 9" in reader.get(url, {"page": 99}).content.decode()


def test_write_actions_are_shown_only_with_permission(reader, client, manager_user):
    ci = ConfigurationItemFactory()
    InstalledSoftwareFactory(ci=ci)
    DiscrepancyFactory()
    pages = [
        reverse("cmdb:ci-list"),
        reverse("cmdb:ci-detail", args=[ci.pk]),
        reverse("cmdb:licence-list"),
        reverse("cmdb:error-list"),
    ]
    markers = [
        "New configuration item",
        ">Edit<",
        "Add relationship",
        "Record removal",
        "Resolve…",
        "New licence",
        "Retire…",
    ]
    for url in pages:
        body = reader.get(url).content.decode()
        assert not [marker for marker in markers if marker in body], url
    client.force_login(manager_user)
    bodies = " ".join(client.get(url).content.decode() for url in pages)
    assert all(marker in bodies for marker in markers)


def test_write_pages_refuse_readers(reader):
    ci = ConfigurationItemFactory()
    row = InstalledSoftwareFactory(ci=ci)
    rel = RelationshipFactory(source=ci)
    record = DiscrepancyFactory()
    licence = LicenceFactory()
    for method, url in [
        ("get", reverse("cmdb:ci-create")),
        ("get", reverse("cmdb:ci-edit", args=[ci.pk])),
        ("post", reverse("cmdb:ci-retire", args=[ci.pk])),
        ("post", reverse("cmdb:relationship-add", args=[ci.pk])),
        ("post", reverse("cmdb:relationship-delete", args=[rel.pk])),
        ("post", reverse("cmdb:software-record", args=[ci.pk])),
        ("post", reverse("cmdb:software-remove", args=[row.pk])),
        ("get", reverse("cmdb:licence-create")),
        ("get", reverse("cmdb:licence-edit", args=[licence.pk])),
        ("post", reverse("cmdb:error-resolve", args=[record.pk])),
    ]:
        assert getattr(reader, method)(url).status_code == 403, url
    assert Relationship.objects.filter(pk=rel.pk).exists()


def test_pages_need_a_role(client, user):
    client.force_login(user)
    for name in ("cmdb:ci-list", "cmdb:licence-list", "cmdb:error-list"):
        assert client.get(reverse(name)).status_code == 403


# The CI page.


def test_ci_page_shows_everything_about_it(manager, manager_user, django_assert_max_num_queries):
    web = ConfigurationItemFactory(identifier="web-01", attributes={"os": "Debian 12"})
    billing = ConfigurationItemFactory(service=True, identifier="billing")
    portal = ConfigurationItemFactory(service=True, identifier="portal")
    RelationshipFactory(source=billing, target=web, kind="runs_on")
    RelationshipFactory(source=portal, target=billing, kind="depends_on")
    product = SoftwareProductFactory(name="Billing Service")
    old = SoftwareVersionFactory(product=product, version="3.4.0", with_artefact=False)
    new = SoftwareVersionFactory(product=product, version="3.5.0", with_artefact=False)
    services.installed_software_record(ci=billing, version=old, by=manager_user)
    services.installed_software_record(ci=billing, version=new, by=manager_user)
    services.ci_update(ci=billing, by=manager_user, reason="re-tiered", attributes={"tier": 1})
    DiscrepancyFactory(ci=billing, kind=ErrorKind.VERSION_MISMATCH, found="3.3.0 reported")
    with django_assert_max_num_queries(20):
        response = manager.get(reverse("cmdb:ci-detail", args=[billing.pk]))
    page = text(response)
    assert "billing <strong>runs on</strong>" in page and ">web-01</a>" in page
    assert "billing <strong>is needed by</strong>" in page and ">portal</a>" in page
    assert "<td>3.5.0</td>" in page  # current
    assert "Previously installed (1)" in page and "<td>3.4.0</td>" in page
    assert "re-tiered" in page
    assert "Attribute tier: <del>2</del> → <ins>1</ins>" in page
    assert "3.3.0 reported" in page and "1 open error" in page
    web_page = text(manager.get(reverse("cmdb:ci-detail", args=[web.pk])))
    assert "web-01 <strong>runs</strong>" in web_page
    assert manager.get(reverse("cmdb:ci-detail", args=[987654])).status_code == 404


def test_ci_detail_query_count_does_not_grow(django_assert_max_num_queries, manager_user):
    ci = ConfigurationItemFactory()
    others = ConfigurationItemFactory.create_batch(15, service=True)
    for other in others:
        RelationshipFactory(source=other, target=ci)
        InstalledSoftwareFactory(ci=ci)
        services.ci_update(ci=ci, by=manager_user, name=f"n{other.pk}")
        DiscrepancyFactory(ci=ci)
    with django_assert_max_num_queries(8):
        detail = selectors.ci_detail(ci.pk)
    assert len(detail.relationships) == 15 and len(detail.history) == 16


def test_create_ci_with_attribute_fields(manager):
    LocationFactory(code="hq")
    response = manager.post(
        reverse("cmdb:ci-create"),
        {
            "identifier": "ws-9",
            "name": "Workstation 9",
            "kind": "workstation",
            "status": "active",
            "environment": "production",
            "attr_os": "Windows 11",
            "attr_memory_gb": "16",
            "attr_assigned_to": "Ada",
        },
    )
    ci = ConfigurationItem.objects.get(identifier="ws-9")
    assert response.status_code == 302 and response["Location"] == reverse(
        "cmdb:ci-detail", args=[ci.pk]
    )
    assert ci.attributes == {"os": "Windows 11", "memory_gb": 16, "assigned_to": "Ada"}


def test_ci_form_shows_errors_next_to_the_fields(manager):
    ConfigurationItemFactory(identifier="web-01")
    response = manager.post(
        reverse("cmdb:ci-create"),
        {
            "identifier": "WEB-01",
            "name": "x",
            "kind": "server",
            "status": "active",
            "environment": "production",
            "attr_cpu_cores": "many",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    # attribute errors come first (the service validates them before the identifier)
    assert "cpu_cores" not in str(form.errors.get("identifier", ""))
    assert "whole number" in form.errors["attr_cpu_cores"][0]
    body = response.content.decode()
    assert 'class="field-error">Must be a whole number' in body
    response = manager.post(
        reverse("cmdb:ci-create"),
        {
            "identifier": "WEB-01",
            "name": "x",
            "kind": "service",
            "status": "active",
            "environment": "production",
            "attr_rack": "R1",
        },
    )
    errors = response.context["form"].errors
    assert "Not an attribute of a service" in errors["attr_rack"][0]
    response = manager.post(
        reverse("cmdb:ci-create"),
        {
            "identifier": "WEB-01",
            "name": "x",
            "kind": "server",
            "status": "active",
            "environment": "production",
        },
    )
    assert "exists already" in response.context["form"].errors["identifier"][0]
    assert ConfigurationItem.objects.count() == 1


def test_edit_ci_keeps_history_with_reason(manager, manager_user):
    ci = services.ci_create(by=manager_user, identifier="db-1", name="DB", kind="server")
    response = manager.post(
        reverse("cmdb:ci-edit", args=[ci.pk]),
        {
            "identifier": "db-1",
            "name": "Database 1",
            "kind": "server",
            "status": "maintenance",
            "environment": "production",
            "attr_os": "Debian 13",
            "reason": "patching",
        },
    )
    assert response.status_code == 302
    ci.refresh_from_db()
    assert (ci.name, ci.status, ci.attributes) == ("Database 1", "maintenance", {"os": "Debian 13"})
    page = text(manager.get(reverse("cmdb:ci-detail", args=[ci.pk])))
    assert "patching" in page and "Status: <del>Active</del> → <ins>Maintenance</ins>" in page
    # retired is not offered by the form: it needs a reason
    form_page = manager.get(reverse("cmdb:ci-edit", args=[ci.pk])).content.decode()
    assert 'value="retired"' not in form_page


def test_retire_from_the_page(manager):
    ci = ConfigurationItemFactory()
    url = reverse("cmdb:ci-retire", args=[ci.pk])
    manager.post(url, {"reason": ""})
    ci.refresh_from_db()
    assert ci.status == "active"
    response = manager.post(url, {"reason": "Hardware failed"}, follow=True)
    ci.refresh_from_db()
    assert ci.status == "retired"
    assert "retired" in text(response)


def test_add_and_remove_relationships_from_the_ci_page(manager):
    billing = ConfigurationItemFactory(service=True, identifier="billing")
    ConfigurationItemFactory(identifier="web-01")
    url = reverse("cmdb:relationship-add", args=[billing.pk])
    response = manager.post(url, {"relation": "out:runs_on", "other": "WEB-01"})
    assert response.status_code == 302
    rel = Relationship.objects.get()
    assert (rel.source, rel.target.identifier, rel.kind) == (billing, "web-01", "runs_on")
    # the other way round: "billing hosts web-01" → web-01 installed on billing
    manager.post(url, {"relation": "in:installed_on", "other": "web-01"})
    assert Relationship.objects.filter(source__identifier="web-01", target=billing).exists()
    # errors are shown next to the field
    for data, message in [
        ({"relation": "out:runs_on", "other": "nope"}, "No configuration item has the identifier"),
        ({"relation": "out:runs_on", "other": "billing"}, "cannot be related to itself"),
        ({"relation": "out:runs_on", "other": "web-01"}, "exists already"),
    ]:
        response = manager.post(url, data)
        assert response.status_code == 400
        assert message in response.content.decode()
    response = manager.post(reverse("cmdb:relationship-delete", args=[rel.pk]), {"ci": billing.pk})
    assert response["Location"] == reverse("cmdb:ci-detail", args=[billing.pk])
    assert not Relationship.objects.filter(pk=rel.pk).exists()


def test_record_and_remove_software_from_the_ci_page(manager):
    ci = ConfigurationItemFactory()
    product = SoftwareProductFactory(licensed=True)
    version = SoftwareVersionFactory(product=product, with_artefact=False)
    licence = LicenceFactory(licence_product=product.licence_product)
    response = manager.post(
        reverse("cmdb:software-record", args=[ci.pk]),
        {"version": version.pk, "source_reference": "CHG-1"},
    )
    assert response.status_code == 302
    row = InstalledSoftware.objects.get()
    assert (row.licence, row.source_reference, row.source) == (licence, "CHG-1", "manual")
    wrong = LicenceFactory()
    response = manager.post(
        reverse("cmdb:software-record", args=[ci.pk]), {"version": version.pk, "licence": wrong.pk}
    )
    assert response.status_code == 400
    assert "is a licence of" in response.content.decode()
    manager.post(reverse("cmdb:software-remove", args=[row.pk]))
    row.refresh_from_db()
    assert row.removed_at is not None


# Licences.


def test_licence_list_shows_seats_bars(reader, django_assert_max_num_queries):
    product = SoftwareProductFactory(licensed=True)
    version = SoftwareVersionFactory(product=product, with_artefact=False)
    over = LicenceFactory(
        licence_product=product.licence_product, name="Over", seats=2, low_seat_threshold=0
    )
    low = LicenceFactory(
        licence_product=product.licence_product, name="Low", seats=10, low_seat_threshold=3
    )
    LicenceFactory(name="Site", metric="site", seats=None)
    LicenceFactory(name="Expired", valid_from="2020-01-01", valid_until="2020-12-31")
    InstalledSoftwareFactory.create_batch(3, version=version, licence=over)
    InstalledSoftwareFactory.create_batch(7, version=version, licence=low)
    Licence.objects.bulk_create(
        LicenceFactory.build(licence_product=product.licence_product, name=f"More {n}")
        for n in range(60)
    )
    with django_assert_max_num_queries(10):
        response = reader.get(reverse("cmdb:licence-list"), {"page_size": 100})
    page = text(response)
    assert '<div class="seats-bar over"' in page and "1 over</span>" in page
    assert '<div class="seats-bar low"' in page and 'style="left: 70.0%"' in page
    assert '<div class="seats-bar site"' in page
    assert "<strong>7</strong> in use · <strong>3</strong> free of 10" in page
    assert page.count('<span class="badge bad">expired</span>') == 1
    filtered = text(reader.get(reverse("cmdb:licence-list"), {"over": "true"}))
    assert ">Over</a>" in filtered and ">Low</a>" not in filtered


def test_licence_detail_lists_the_installations(reader):
    licence = LicenceFactory(name="M365")
    rows = InstalledSoftwareFactory.create_batch(3, licence=licence)
    InstalledSoftwareFactory(
        licence=licence,
        installed_at=timezone.now() - timezone.timedelta(days=1),
        removed_at=timezone.now(),
    )
    page = text(reader.get(reverse("cmdb:licence-detail", args=[licence.pk])))
    assert "<strong>3</strong> in use" in page
    for row in rows:
        assert f">{row.ci.identifier}</a>" in page


def test_licence_form_errors_and_create(manager):
    product = LicenceProductFactory()
    url = reverse("cmdb:licence-create")
    response = manager.post(
        url,
        {"licence_product": product.pk, "name": "x", "metric": "per_seat", "low_seat_threshold": 0},
    )
    assert response.status_code == 400
    assert "Give the number of seats" in str(response.context["form"].errors["seats"])
    response = manager.post(
        url,
        {
            "licence_product": product.pk,
            "name": "x",
            "metric": "per_seat",
            "seats": 10,
            "low_seat_threshold": 1,
            "valid_from": "2026-05-01",
            "valid_until": "2026-04-01",
        },
    )
    assert "cannot end before it starts" in str(response.context["form"].errors["valid_until"])
    response = manager.post(
        url,
        {
            "licence_product": product.pk,
            "name": "ok",
            "metric": "per_seat",
            "seats": 10,
            "low_seat_threshold": 1,
        },
    )
    licence = Licence.objects.get()
    assert response["Location"] == reverse("cmdb:licence-detail", args=[licence.pk])
    response = manager.post(
        reverse("cmdb:licence-edit", args=[licence.pk]),
        {
            "licence_product": product.pk,
            "name": "ok",
            "metric": "per_seat",
            "seats": 12,
            "low_seat_threshold": 1,
        },
    )
    licence.refresh_from_db()
    assert licence.seats == 12


# Errors.


def test_error_list_defaults_to_open_with_counts_per_category(
    reader, django_assert_max_num_queries
):
    for n in range(40):
        DiscrepancyFactory(fingerprint=f"x{n}")
    DiscrepancyFactory(
        kind=ErrorKind.SEATS_EXCEEDED, ci=None, licence=LicenceFactory(), subject="M365"
    )
    DiscrepancyFactory(resolved_at=timezone.now(), resolution="fixed it", subject="old one")
    with django_assert_max_num_queries(12):
        response = reader.get(reverse("cmdb:error-list"), {"page_size": 100})
    page = text(response)
    assert "<strong>40</strong> CMDB errors open" in page
    assert "<strong>1</strong> Licence error open" in page
    assert "old one" not in page and "M365" in page
    resolved = text(reader.get(reverse("cmdb:error-list"), {"open": "false"}))
    assert "old one" in resolved and "fixed it" in resolved and "M365" not in resolved
    every = text(reader.get(reverse("cmdb:error-list"), {"open": "any", "category": "licence"}))
    assert "M365" in every and "old one" not in every
    assert "old one" in text(
        reader.get(reverse("cmdb:error-list"), {"open": "any", "search": "OLD"})
    )


def test_resolve_inline_with_htmx(manager, manager_user):
    record = DiscrepancyFactory(subject="web-01 Nginx")
    url = reverse("cmdb:error-resolve", args=[record.pk])
    form = manager.get(url, headers={"HX-Request": "true"})
    assert form.status_code == 200
    assert f'hx-post="{url}"' in form.content.decode()
    empty = manager.post(url, {"resolution": " "}, headers={"HX-Request": "true"})
    assert empty.status_code == 200  # swapped in with the error shown
    assert "Say what was done to resolve it." in empty.content.decode()
    done = manager.post(url, {"resolution": "Agent re-ran"}, headers={"HX-Request": "true"})
    body = done.content.decode()
    assert body.startswith(f'<tr id="error-{record.pk}">')
    assert "resolved" in body and "Agent re-ran" in body
    # the open counts at the top of the page follow, out of band
    assert 'id="open-counts" hx-swap-oob="true"' in body
    assert "<strong>0</strong> CMDB errors open" in body
    record.refresh_from_db()
    assert record.resolved_by == manager_user
    again = manager.post(url, {"resolution": "twice"}, headers={"HX-Request": "true"})
    assert "already resolved" in again.content.decode()
    # a row that was resolved meanwhile is shown as it is rather than offering the form
    row = manager.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "How was it resolved?" not in row


def test_resolve_without_script_is_a_small_page(manager):
    record = DiscrepancyFactory()
    url = reverse("cmdb:error-resolve", args=[record.pk])
    page = manager.get(url, {"next": "/cmdb/errors/?kind=version_mismatch"})
    assert page.status_code == 200 and "How" not in page.content.decode()[:0]
    response = manager.post(
        url, {"resolution": "done", "next": "/cmdb/errors/?kind=version_mismatch"}
    )
    assert response["Location"] == "/cmdb/errors/?kind=version_mismatch"
    other = DiscrepancyFactory()
    response = manager.post(
        reverse("cmdb:error-resolve", args=[other.pk]),
        {"resolution": "done", "next": "https://evil.example.com/"},
    )
    assert response["Location"] == reverse("cmdb:error-list")
    assert not Discrepancy.objects.filter(resolved_at__isnull=True).exists()


def test_navigation_links_the_cmdb_pages(reader):
    body = reader.get(reverse("cmdb:ci-list")).content.decode()
    for name in ("cmdb:ci-list", "cmdb:licence-list", "cmdb:error-list"):
        assert f'href="{reverse(name)}"' in body


def test_admin_lists_and_history(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(superuser=True))
    rel = RelationshipFactory()
    licence = LicenceFactory()
    InstalledSoftwareFactory(licence=licence)
    DiscrepancyFactory()
    for model in (
        "configurationitem",
        "relationship",
        "licence",
        "installedsoftware",
        "discrepancy",
    ):
        assert client.get(f"/admin/cmdb/{model}/").status_code == 200, model
    assert client.get(f"/admin/cmdb/configurationitem/{rel.source_id}/history/").status_code == 200
    assert client.get(f"/admin/cmdb/licence/{licence.pk}/change/").status_code == 200
    assert "seats in use" in client.get("/admin/cmdb/licence/").content.decode().lower()


@pytest.mark.postgres
def test_the_search_reads_the_trigram_indexes(db):
    # issue #13: ?search= on 50,000 CIs is an index scan, not a sequential one
    from cmdb.filtersets import ConfigurationItemFilterSet
    from cmdb.models import ConfigurationItem

    ConfigurationItemFactory(identifier="ws-04711", name="Workstation 4711")
    queryset = ConfigurationItemFilterSet(
        {"search": "4711"}, queryset=ConfigurationItem.objects.order_by()
    ).qs
    plan = bitmap_plan(queryset)
    assert "cmdb_ci_identifier_trgm" in plan
    assert "cmdb_ci_name_trgm" in plan
