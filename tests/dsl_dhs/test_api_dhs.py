"""DHS API: locations, hardware models, stock and reservations."""

import pytest
from django.urls import reverse

from dsl_dhs.models import HardwareModel, Location, Reservation, Stock
from releasemgmt.core.models import AuditEvent
from tests import api_mixins as api
from tests.factories import (
    ConfigurationItemFactory,
    HardwareModelFactory,
    LocationFactory,
    ReservationFactory,
    StockFactory,
)

pytestmark = pytest.mark.django_db

STOCK_LIST = reverse("dsl_dhs-api:stock-list")
RESERVATION_LIST = reverse("dsl_dhs-api:reservation-list")


def url(name, obj=None, action=None):
    if obj is None:
        return reverse(f"dsl_dhs-api:{name}-list")
    suffix = f"-{action}" if action else "-detail"
    return reverse(f"dsl_dhs-api:{name}{suffix}", kwargs={"pk": obj.pk})


class TestLocationAPI(api.ListObjects, api.GetObject):
    url_name = "dsl_dhs-api:location"
    factory = LocationFactory
    model = Location


class TestHardwareModelAPI(api.ListObjects, api.GetObject):
    url_name = "dsl_dhs-api:hardware-model"
    factory = HardwareModelFactory
    model = HardwareModel


class TestStockAPI(api.ListObjects, api.GetObject):
    url_name = "dsl_dhs-api:stock"
    factory = StockFactory
    model = Stock


class TestReservationAPI(api.ListObjects, api.GetObject):
    url_name = "dsl_dhs-api:reservation"
    factory = ReservationFactory
    model = Reservation


# Locations and hardware models


def test_location_crud_and_delete_in_use_is_409(cm_api):
    created = cm_api.post(url("location"), {"code": "dc-east", "name": "Data centre East"})
    assert created.status_code == 201, created.content
    location = Location.objects.get(code="dc-east")
    assert cm_api.patch(url("location", location), {"name": "DC East"}).status_code == 200
    duplicate = cm_api.post(url("location"), {"code": "dc-east", "name": "Again"})
    assert duplicate.status_code == 400
    assert "code" in duplicate.json()["errors"]

    StockFactory(location=location)
    in_use = cm_api.delete(url("location", location))
    assert in_use.status_code == 409
    assert Location.objects.filter(pk=location.pk).exists()


def test_hardware_model_crud(cm_api):
    data = {
        "manufacturer": "Dell",
        "name": "PowerEdge R770",
        "part_number": "PE-R770",
        "kind": "server",
    }
    created = cm_api.post(url("hardware-model"), data)
    assert created.status_code == 201, created.content
    model = HardwareModel.objects.get(pk=created.json()["id"])
    updated = cm_api.put(url("hardware-model", model), {**data, "description": "2U, 2 sockets"})
    assert updated.status_code == 200
    dup = cm_api.post(url("hardware-model"), {**data, "part_number": "pe-r770"})
    assert dup.status_code == 400
    assert "part number" in dup.json()["detail"]
    bad_kind = cm_api.post(url("hardware-model"), {**data, "part_number": "X", "kind": "toaster"})
    assert bad_kind.status_code == 400
    assert "kind" in bad_kind.json()["errors"]

    ConfigurationItemFactory(hardware_model=model)
    assert cm_api.delete(url("hardware-model", model)).status_code == 409
    assert HardwareModel.objects.filter(pk=model.pk).exists()


def test_location_and_model_writes_are_refused_to_a_release_manager(rm_api):
    location = LocationFactory()
    model = HardwareModelFactory()
    assert rm_api.post(url("location"), {"code": "x", "name": "X"}).status_code == 403
    assert rm_api.delete(url("location", location)).status_code == 403
    assert rm_api.patch(url("hardware-model", model), {"name": "Y"}).status_code == 403


# Stock


def test_stock_create_update_delete(cm_api, config_manager):
    model, location = HardwareModelFactory(), LocationFactory()
    created = cm_api.post(
        STOCK_LIST, {"hardware_model": model.pk, "location": location.pk, "on_hand": 3}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["on_hand"], body["reserved"], body["free"]) == (3, 0, 3)
    stock = Stock.objects.get(pk=body["id"])

    no_reason = cm_api.patch(url("stock", stock), {"on_hand": 5})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["errors"]
    updated = cm_api.patch(url("stock", stock), {"on_hand": 5, "reason": "Delivery 4711"})
    assert updated.status_code == 200, updated.content
    assert updated.json()["free"] == 5
    event = AuditEvent.objects.get(action="dsl_dhs.stock.adjust", object_id=str(stock.pk))
    assert event.reason == "Delivery 4711" and event.actor == config_manager
    assert event.before["on_hand"] == 3 and event.after["on_hand"] == 5

    moved = cm_api.patch(url("stock", stock), {"location": LocationFactory().pk})
    assert moved.status_code == 400
    assert "cannot move" in moved.json()["errors"]["location"][0]

    assert cm_api.delete(url("stock", stock)).status_code == 204


def test_deleting_stock_with_reservations_is_409(cm_api):
    reservation = ReservationFactory()
    response = cm_api.delete(url("stock", reservation.stock))
    assert response.status_code == 409
    assert "still in use" in response.json()["detail"]
    assert Stock.objects.filter(pk=reservation.stock_id).exists()


def test_stock_duplicate_model_location_and_negative_counts_are_400(cm_api):
    stock = StockFactory()
    dup = cm_api.post(
        STOCK_LIST, {"hardware_model": stock.hardware_model_id, "location": stock.location_id}
    )
    assert dup.status_code == 400
    negative = cm_api.post(
        STOCK_LIST,
        {
            "hardware_model": stock.hardware_model_id,
            "location": LocationFactory().pk,
            "on_hand": -1,
        },
    )
    assert negative.status_code == 400
    assert "on_hand" in negative.json()["errors"]
    missing = cm_api.post(STOCK_LIST, {"on_hand": 1})
    assert missing.status_code == 400
    assert set(missing.json()["errors"]) == {"hardware_model", "location"}


def test_stock_writes_are_refused_to_a_release_manager(rm_api):
    stock = StockFactory()
    assert (
        rm_api.post(
            STOCK_LIST,
            {"hardware_model": stock.hardware_model_id, "location": LocationFactory().pk},
        ).status_code
        == 403
    )
    assert rm_api.patch(url("stock", stock), {"on_hand": 1, "reason": "x"}).status_code == 403
    assert (
        rm_api.post(url("stock", stock, "adjust"), {"on_hand": 1, "reason": "x"}).status_code == 403
    )
    assert rm_api.delete(url("stock", stock)).status_code == 403


def test_stock_adjust_below_reserved_is_409(cm_api, config_manager):
    from dsl_dhs.services import reservation_create

    stock = StockFactory(on_hand=5)
    reservation_create(stock=stock, quantity=3, reference="REL-1", by=config_manager)
    refused = cm_api.post(url("stock", stock, "adjust"), {"on_hand": 2, "reason": "Write-off"})
    assert refused.status_code == 409
    assert "3 units are reserved" in refused.json()["detail"]
    ok = cm_api.post(url("stock", stock, "adjust"), {"on_hand": 3, "reason": "Write-off"})
    assert ok.status_code == 200
    assert ok.json()["free"] == 0


def test_stock_filters(token_client, role_user):
    north, hq = LocationFactory(code="dc-north"), LocationFactory(code="hq")
    server = HardwareModelFactory(kind="server")
    laptop = HardwareModelFactory(kind="laptop", name="Latitude", part_number="LAT")
    StockFactory(hardware_model=server, location=north)
    StockFactory(hardware_model=laptop, location=hq, on_hand=2, reserved=2)
    client = token_client(role_user("auditor"))

    def ids(**params):
        return {row["location_code"] for row in client.get(STOCK_LIST, params).json()["results"]}

    assert ids(kind="laptop") == {"hq"}
    assert ids(location=north.pk) == {"dc-north"}
    assert ids(model=server.pk) == {"dc-north"}
    assert ids(available="false") == {"hq"}


# Reservations


def test_reservation_create_consume_and_return(rm_api, release_manager):
    stock = StockFactory(on_hand=5)
    created = rm_api.post(
        RESERVATION_LIST, {"stock": stock.pk, "quantity": 2, "reference": "REL-2026-0042"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "reserved" and body["created_by"] == release_manager.username
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (5, 2)

    reservation = Reservation.objects.get(pk=body["id"])
    consumed = rm_api.post(
        url("reservation", reservation, "consume"), {"note": "Installed in rack 12"}
    )
    assert consumed.status_code == 200, consumed.content
    assert consumed.json()["status"] == "consumed" and consumed.json()["closed_at"]
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (3, 0)

    again = rm_api.post(url("reservation", reservation, "return"))
    assert again.status_code == 409
    assert "already consumed" in again.json()["detail"]

    second = rm_api.post(
        RESERVATION_LIST, {"stock": stock.pk, "quantity": 1, "reference": "REL-2026-0043"}
    )
    returned = rm_api.post(
        url("reservation", Reservation.objects.get(pk=second.json()["id"]), "return")
    )
    assert returned.status_code == 200
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (3, 0)


def test_over_reserving_is_409_with_the_free_count(rm_api):
    stock = StockFactory(on_hand=2)
    response = rm_api.post(
        RESERVATION_LIST, {"stock": stock.pk, "quantity": 3, "reference": "REL-9"}
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith("Only 2 free")
    assert response.json()["free"] == 2
    assert not Reservation.objects.exists()


def test_reservation_bad_input_is_400_naming_the_field(rm_api):
    stock = StockFactory()
    zero = rm_api.post(RESERVATION_LIST, {"stock": stock.pk, "quantity": 0, "reference": "R"})
    assert zero.status_code == 400 and "quantity" in zero.json()["errors"]
    negative = rm_api.post(RESERVATION_LIST, {"stock": stock.pk, "quantity": -2, "reference": "R"})
    assert negative.status_code == 400 and "quantity" in negative.json()["errors"]
    no_ref = rm_api.post(RESERVATION_LIST, {"stock": stock.pk, "quantity": 1})
    assert no_ref.status_code == 400 and "reference" in no_ref.json()["errors"]
    unknown = rm_api.post(RESERVATION_LIST, {"stock": 999999, "quantity": 1, "reference": "R"})
    assert unknown.status_code == 400 and "stock" in unknown.json()["errors"]


def test_reservation_state_fields_are_read_only_and_it_cannot_be_edited(rm_api, cm_api):
    stock = StockFactory(on_hand=3)
    created = rm_api.post(
        RESERVATION_LIST, {"stock": stock.pk, "quantity": 1, "reference": "R", "status": "consumed"}
    )
    assert created.status_code == 201
    assert created.json()["status"] == "reserved"
    reservation = Reservation.objects.get(pk=created.json()["id"])
    assert rm_api.patch(url("reservation", reservation), {"quantity": 3}).status_code == 405
    # even a configuration manager (who holds delete_reservation) cannot delete one
    assert cm_api.delete(url("reservation", reservation)).status_code == 405
    assert Reservation.objects.filter(pk=reservation.pk, quantity=1).exists()


@pytest.mark.parametrize("role", ["auditor", "change_manager", "ops"])
def test_reserving_needs_the_reserve_permission(token_client, role_user, role):
    stock = StockFactory()
    reservation = ReservationFactory(stock=stock)
    client = token_client(role_user(role))
    assert client.get(url("reservation", reservation)).status_code == 200
    assert (
        client.post(
            RESERVATION_LIST, {"stock": stock.pk, "quantity": 1, "reference": "R"}
        ).status_code
        == 403
    )
    assert client.post(url("reservation", reservation, "consume")).status_code == 403
    assert client.post(url("reservation", reservation, "return")).status_code == 403


def test_reservation_filters(token_client, role_user, config_manager):
    from dsl_dhs.services import reservation_create, reservation_return

    stock = StockFactory(on_hand=10)
    reservation_create(stock=stock, quantity=1, reference="REL-2026-0003", by=config_manager)
    old = reservation_create(stock=stock, quantity=1, reference="REL-2026-0001", by=config_manager)
    reservation_return(reservation=old, by=config_manager)
    client = token_client(role_user("auditor"))
    active = client.get(RESERVATION_LIST, {"status": "reserved"}).json()["results"]
    assert [row["reference"] for row in active] == ["REL-2026-0003"]
    by_ref = client.get(RESERVATION_LIST, {"reference": "rel-2026-0001"}).json()["results"]
    assert [row["status"] for row in by_ref] == ["returned"]
