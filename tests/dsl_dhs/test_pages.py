"""DSL and DHS pages: render for readers, show form errors, hide and refuse what a role may not do."""

import pytest
from django.test import override_settings
from django.urls import reverse

from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import Reservation, SoftwareProduct, SoftwareVersion
from tests.dsl_dhs.conftest import sha256, stored_files, upload
from tests.factories import (
    HardwareModelFactory,
    LicenceProductFactory,
    LocationFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    StockFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, role_user):
    def sign_in(role):
        user = role_user(role)
        client.force_login(user)
        return client

    return sign_in


def page(name, *args):
    return reverse(f"dsl_dhs:{name}", args=args)


# Reading


def test_product_list_shows_licence_counts_and_latest_authorised(as_role):
    product = SoftwareProductFactory(
        name="Billing Service", licence_product=LicenceProductFactory(name="Billing Seats")
    )
    SoftwareVersionFactory(product=product, version="3.5.0")
    SoftwareVersionFactory(product=product, version="3.6.0", status=VersionStatus.DRAFT)
    client = as_role("auditor")
    response = client.get(page("product-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Billing Service" in html and "Billing Seats" in html and "3.5.0" in html
    assert "New product" not in html and "Upload a version" not in html


def test_product_list_search_and_htmx_fragment(as_role):
    SoftwareProductFactory(name="Nginx")
    SoftwareProductFactory(name="Oracle Database")
    client = as_role("auditor")
    html = client.get(page("product-list"), {"search": "ngin"}).content.decode()
    assert "Nginx" in html and "Oracle Database" not in html
    fragment = client.get(page("product-list"), {"search": "oracle"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="product-table">')
    assert "Oracle Database" in body and "<html" not in body


def test_product_list_varies_on_htmx_and_restores_history_as_the_whole_page(as_role):
    """The search pushes its URL: the back button, its snapshot gone, asks htmx to restore the
    page, and must get the page, not the bare table (issue 11)."""
    SoftwareProductFactory(name="Oracle Database")
    client = as_role("auditor")

    page_answer = client.get(page("product-list"), {"search": "oracle"})
    swap = client.get(page("product-list"), {"search": "oracle"}, headers={"HX-Request": "true"})
    restore = client.get(
        page("product-list"),
        {"search": "oracle"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )

    for response in (page_answer, swap, restore):
        assert "HX-Request" in response["Vary"]
    assert "<html" not in swap.content.decode()
    restored = restore.content.decode()
    assert "<html" in restored and "Oracle Database" in restored


def test_list_pages_cost_fixed_queries(as_role, django_assert_max_num_queries):
    for _ in range(30):
        version = SoftwareVersionFactory(product=SoftwareProductFactory(licensed=True))
        stock = StockFactory(on_hand=3)
        Reservation.objects.create(stock=stock, quantity=1, reference=f"REL-{version.pk}")
    client = as_role("auditor")
    client.get(page("product-list"))  # warm the session and permission caches
    for name in ("product-list", "stock-list", "reservation-list"):
        with django_assert_max_num_queries(10):
            response = client.get(page(name))
        assert response.status_code == 200, name
    product = SoftwareProduct.objects.first()
    for extra in range(10):
        SoftwareVersionFactory(product=product, version=f"9.{extra}")
    with django_assert_max_num_queries(10):
        assert client.get(page("product-detail", product.pk)).status_code == 200


def test_product_and_version_pages_show_status_size_checksum(as_role):
    version = SoftwareVersionFactory(version="1.26.2")
    client = as_role("auditor")
    detail = client.get(page("product-detail", version.product_id)).content.decode()
    assert "1.26.2" in detail and version.sha256[:12] in detail
    assert f'title="SHA-256 {version.sha256}"' in detail
    assert "authorised" in detail and "bytes" in detail

    html = client.get(page("version-detail", version.pk)).content.decode()
    assert version.sha256 in html
    assert "Change status" not in html  # an auditor may not
    assert "Download" not in html  # nor download
    assert "Verify checksum now" not in html


def test_version_page_offers_only_the_allowed_status_changes(as_role):
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    client = as_role("configuration_manager")
    html = client.get(page("version-detail", draft.pk)).content.decode()
    assert ">Authorise</button>" in html and ">Retire</button>" in html
    assert ">Quarantine</button>" not in html
    assert "Reason (required)" in html  # retiring asks for a reason
    assert "Download" not in html  # drafts are never downloadable

    authorised = SoftwareVersionFactory()
    html = client.get(page("version-detail", authorised.pk)).content.decode()
    assert ">Quarantine</button>" in html and ">Authorise</button>" not in html
    download = reverse("dsl_dhs-api:software-version-download", kwargs={"pk": authorised.pk})
    assert download in html


def test_version_page_download_link_works_with_the_session(as_role):
    version = SoftwareVersionFactory()
    client = as_role("release_manager")
    html = client.get(page("version-detail", version.pk)).content.decode()
    link = reverse("dsl_dhs-api:software-version-download", kwargs={"pk": version.pk})
    assert link in html
    response = client.get(link)
    assert response.status_code == 200
    assert response["X-Checksum-SHA256"] == version.sha256


def test_pages_need_the_view_permission(client, user):
    client.force_login(user)  # signed in, no role
    for name in ("product-list", "stock-list", "reservation-list"):
        assert client.get(page(name)).status_code == 403


# Products


def test_product_form_shows_errors_and_creates(as_role):
    LicenceProductFactory(name="Oracle Database Enterprise")
    SoftwareProductFactory(name="Nginx")
    client = as_role("configuration_manager")
    blank = client.post(page("product-create"), {"name": ""})
    assert blank.status_code == 400
    assert "This field is required." in blank.content.decode()
    duplicate = client.post(page("product-create"), {"name": "nginx"})
    assert duplicate.status_code == 400
    assert "A software product with this name exists." in duplicate.content.decode()

    created = client.post(page("product-create"), {"name": "Apache httpd", "vendor": "ASF"})
    product = SoftwareProduct.objects.get(name="Apache httpd")
    assert created.status_code == 302 and created["Location"] == page("product-detail", product.pk)
    edited = client.post(page("product-edit", product.pk), {"name": "Apache HTTP Server"})
    assert edited.status_code == 302
    product.refresh_from_db()
    assert product.name == "Apache HTTP Server"


def test_product_forms_are_refused_without_permission(as_role):
    client = as_role("release_manager")
    product = SoftwareProductFactory()
    assert client.get(page("product-create")).status_code == 403
    assert client.post(page("product-edit", product.pk), {"name": "X"}).status_code == 403


# Upload page (plain form post and the XHR/JSON protocol of static/js/dsl-upload.js)


def upload_form(product, data=b"payload", **extra):
    return {
        "product": product.pk,
        "version": "2.0.0",
        "artefact": upload(data, "portal.tgz"),
        **extra,
    }


def test_upload_page_renders_with_progress_bar_and_script(as_role):
    product = SoftwareProductFactory()
    response = as_role("configuration_manager").get(page("version-upload"), {"product": product.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert "js/dsl-upload.js" in html and "<progress" in html
    assert 'enctype="multipart/form-data"' in html
    assert f'<option value="{product.pk}" selected>' in html


def test_upload_page_plain_post_stores_and_redirects(as_role, media):
    product = SoftwareProductFactory()
    client = as_role("configuration_manager")
    response = client.post(page("version-upload"), upload_form(product, sha256=sha256(b"payload")))
    version = SoftwareVersion.objects.get(product=product, version="2.0.0")
    assert response.status_code == 302
    assert response["Location"] == page("version-detail", version.pk)
    assert version.sha256 == sha256(b"payload") and version.status == "draft"
    assert stored_files(media) == [version.artefact.name]


def test_upload_page_plain_post_shows_a_checksum_mismatch(as_role, media):
    product = SoftwareProductFactory()
    response = as_role("configuration_manager").post(
        page("version-upload"), upload_form(product, sha256="1" * 64)
    )
    assert response.status_code == 400
    assert "does not match the uploaded file" in response.content.decode()
    assert not SoftwareVersion.objects.exists()
    assert stored_files(media) == []


def test_upload_page_shows_field_errors(as_role):
    response = as_role("configuration_manager").post(
        page("version-upload"), {"version": "", "sha256": "xyz"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count("This field is required.") >= 3  # product, version, artefact
    assert "A SHA-256 is 64 hexadecimal characters." in html


def test_upload_page_json_protocol(as_role, media):
    product = SoftwareProductFactory()
    client = as_role("configuration_manager")
    bad = client.post(
        page("version-upload"),
        upload_form(product, sha256="2" * 64),
        HTTP_ACCEPT="application/json",
    )
    assert bad.status_code == 400
    assert "does not match" in bad.json()["errors"]["sha256"][0]
    good = client.post(page("version-upload"), upload_form(product), HTTP_ACCEPT="application/json")
    assert good.status_code == 201
    version = SoftwareVersion.objects.get(product=product)
    assert good.json()["redirect"] == page("version-detail", version.pk)
    duplicate = client.post(
        page("version-upload"), upload_form(product), HTTP_ACCEPT="application/json"
    )
    assert duplicate.status_code == 400
    assert "already has version 2.0.0" in duplicate.json()["detail"]


@override_settings(DSL_MAX_ARTEFACT_BYTES=10)
def test_upload_page_oversize_is_413_in_both_protocols(as_role, media):
    product = SoftwareProductFactory()
    client = as_role("configuration_manager")
    plain = client.post(page("version-upload"), upload_form(product, data=b"z" * 100))
    assert plain.status_code == 413
    assert "larger than the 10" in plain.content.decode()
    huge = client.post(
        page("version-upload"),
        upload_form(product, data=b"z" * (1024 * 1024 + 50)),
        HTTP_ACCEPT="application/json",
    )
    assert huge.status_code == 413
    assert "DSL_MAX_ARTEFACT_MB" in huge.json()["detail"]
    assert stored_files(media) == []


def test_artefact_page_attaches_to_a_draft_and_refuses_an_authorised_version(as_role, media):
    client = as_role("configuration_manager")
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    response = client.post(page("version-artefact", draft.pk), {"artefact": upload(b"bits")})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.sha256 == sha256(b"bits")

    authorised = SoftwareVersionFactory()
    refused = client.post(page("version-artefact", authorised.pk), {"artefact": upload(b"new")})
    assert refused.status_code == 409
    assert "immutable" in refused.content.decode()
    sent_back = client.get(page("version-artefact", authorised.pk), follow=True)
    assert sent_back.redirect_chain[-1][0] == page("version-detail", authorised.pk)
    assert "immutable" in sent_back.content.decode()


def test_upload_pages_are_refused_without_permission(as_role, media):
    client = as_role("release_manager")
    product = SoftwareProductFactory()
    draft = SoftwareVersionFactory(status=VersionStatus.DRAFT, with_artefact=False)
    assert client.get(page("version-upload")).status_code == 403
    assert client.post(page("version-upload"), upload_form(product)).status_code == 403
    assert (
        client.post(page("version-artefact", draft.pk), {"artefact": upload(b"x")}).status_code
        == 403
    )
    assert stored_files(media) == []


def test_upload_page_still_checks_csrf(client, role_user):
    from django.test import Client

    user = role_user("configuration_manager")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    response = strict.post(page("version-upload"), upload_form(SoftwareProductFactory()))
    assert response.status_code == 403
    assert not SoftwareVersion.objects.exists()


# Status and verify from the version page


def test_status_buttons_change_the_status_or_explain_why_not(as_role):
    client = as_role("configuration_manager")
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    response = client.post(page("version-status", version.pk), {"status": "authorised"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == "authorised"

    client.post(page("version-status", version.pk), {"status": "retired", "reason": ""})
    html = client.get(page("version-detail", version.pk)).content.decode()
    assert "Say why you retire" in html
    version.refresh_from_db()
    assert version.status == "authorised"


def test_status_change_is_refused_without_permission(as_role):
    version = SoftwareVersionFactory(status=VersionStatus.DRAFT)
    response = as_role("release_manager").post(
        page("version-status", version.pk), {"status": "authorised"}
    )
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.status == "draft"


def test_verify_button(as_role):
    version = SoftwareVersionFactory()
    client = as_role("configuration_manager")
    response = client.post(page("version-verify", version.pk), follow=True)
    assert "matches its recorded SHA-256" in response.content.decode()
    assert as_role("auditor").post(page("version-verify", version.pk)).status_code == 403


# DHS pages


def test_stock_list_warns_when_nothing_is_free_and_hides_actions_from_readers(as_role):
    StockFactory(hardware_model=HardwareModelFactory(name="Catalyst 9300"), on_hand=1, reserved=1)
    StockFactory(hardware_model=HardwareModelFactory(name="PowerEdge R760"), on_hand=4)
    html = as_role("auditor").get(page("stock-list")).content.decode()
    assert "Catalyst 9300" in html and "0 free" in html
    assert "Reserve</a>" not in html and "Adjust</a>" not in html

    html = as_role("configuration_manager").get(page("stock-list")).content.decode()
    assert html.count("Reserve</a>") == 1  # not offered where nothing is free
    assert html.count("Adjust</a>") == 2


def test_stock_list_filters(as_role):
    hq = LocationFactory(code="hq", name="Head office")
    StockFactory(
        hardware_model=HardwareModelFactory(name="Latitude 7440", kind="laptop"), location=hq
    )
    StockFactory(hardware_model=HardwareModelFactory(name="PowerEdge R760", kind="server"))
    client = as_role("auditor")
    html = client.get(page("stock-list"), {"kind": "laptop"}).content.decode()
    assert "Latitude 7440" in html and "PowerEdge R760" not in html
    html = client.get(page("stock-list"), {"location": hq.pk}).content.decode()
    assert "Latitude 7440" in html and "PowerEdge R760" not in html


def test_reserve_page_shows_errors_and_reserves(as_role):
    stock = StockFactory(on_hand=2)
    client = as_role("release_manager")
    too_many = client.post(page("stock-reserve", stock.pk), {"quantity": 5, "reference": "REL-7"})
    assert too_many.status_code == 400
    assert "Only 2 free" in too_many.content.decode()
    blank = client.post(page("stock-reserve", stock.pk), {"quantity": 0, "reference": ""})
    assert blank.status_code == 400
    html = blank.content.decode()
    assert "greater than or equal to 1" in html and "This field is required." in html

    done = client.post(page("stock-reserve", stock.pk), {"quantity": 2, "reference": "REL-7"})
    assert done.status_code == 302
    stock.refresh_from_db()
    assert stock.reserved == 2


def test_adjust_page_refuses_going_below_reserved(as_role):
    stock = StockFactory(on_hand=3, reserved=2)
    client = as_role("configuration_manager")
    response = client.post(page("stock-adjust", stock.pk), {"on_hand": 1, "reason": "Stock-take"})
    assert response.status_code == 400
    assert "2 units are reserved" in response.content.decode()
    ok = client.post(page("stock-adjust", stock.pk), {"on_hand": 6, "reason": "Delivery"})
    assert ok.status_code == 302
    stock.refresh_from_db()
    assert stock.on_hand == 6


def test_dhs_forms_are_refused_without_permission(as_role):
    stock = StockFactory()
    auditor = as_role("auditor")
    assert auditor.get(page("stock-reserve", stock.pk)).status_code == 403
    assert (
        auditor.post(page("stock-reserve", stock.pk), {"quantity": 1, "reference": "R"}).status_code
        == 403
    )
    assert as_role("release_manager").get(page("stock-adjust", stock.pk)).status_code == 403
    stock.refresh_from_db()
    assert stock.reserved == 0


def test_reservation_list_filters_and_consume_return_buttons(as_role, role_user):
    from dsl_dhs.services import reservation_create

    stock = StockFactory(on_hand=5)
    person = role_user("release_manager")
    active = reservation_create(stock=stock, quantity=2, reference="REL-2026-0003", by=person)
    other = reservation_create(stock=stock, quantity=1, reference="REL-2026-0009", by=person)

    reader = as_role("auditor")
    html = reader.get(page("reservation-list"), {"status": "reserved"}).content.decode()
    assert "REL-2026-0003" in html and "Consume</button>" not in html
    assert reader.post(page("reservation-consume", active.pk)).status_code == 403

    client = as_role("release_manager")
    html = client.get(page("reservation-list")).content.decode()
    assert html.count("Consume</button>") == 2
    response = client.post(
        page("reservation-consume", active.pk), {"next": "/dhs/reservations/?status=reserved"}
    )
    assert (
        response.status_code == 302 and response["Location"] == "/dhs/reservations/?status=reserved"
    )
    client.post(page("reservation-return", other.pk))
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (3, 0)

    again = client.post(page("reservation-return", active.pk), follow=True)
    assert "already consumed" in again.content.decode()
    html = client.get(page("reservation-list"), {"status": "returned"}).content.decode()
    assert "REL-2026-0009" in html and "REL-2026-0003" not in html


def test_next_parameter_cannot_redirect_elsewhere(as_role, role_user):
    from dsl_dhs.services import reservation_create

    reservation = reservation_create(
        stock=StockFactory(), quantity=1, reference="R", by=role_user("release_manager")
    )
    response = as_role("release_manager").post(
        page("reservation-return", reservation.pk), {"next": "https://evil.example/"}
    )
    assert response["Location"] == page("reservation-list")
