"""Reservation arithmetic, the database constraints behind it, and the race for the last unit."""

import threading
from functools import partial

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F

from dsl_dhs import services
from dsl_dhs.models import Reservation, Stock
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from tests.concurrency import run_together
from tests.factories import ReservationFactory, StockFactory, UserFactory


@pytest.fixture
def person(db):
    return UserFactory()


def counts(stock):
    stock.refresh_from_db()
    return stock.on_hand, stock.reserved, stock.free


@pytest.mark.django_db
def test_reserve_consume_return_arithmetic(person):
    stock = StockFactory(on_hand=10)
    a = services.reservation_create(stock=stock, quantity=3, reference="REL-A", by=person)
    b = services.reservation_create(stock=stock, quantity=4, reference="REL-B", by=person)
    assert counts(stock) == (10, 7, 3)

    services.reservation_consume(reservation=a, by=person)
    assert counts(stock) == (7, 4, 3)
    services.reservation_return(reservation=b, by=person)
    assert counts(stock) == (7, 0, 7)

    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == ("consumed", "returned")
    assert a.closed_at and b.closed_at


@pytest.mark.django_db
def test_over_reserving_is_refused_with_only_n_free(person):
    stock = StockFactory(on_hand=4)
    services.reservation_create(stock=stock, quantity=3, reference="REL-A", by=person)
    with pytest.raises(DomainConflict, match=r"^Only 1 free") as refused:
        services.reservation_create(stock=stock, quantity=2, reference="REL-B", by=person)
    assert refused.value.extra == {"free": 1}
    assert counts(stock) == (4, 3, 1)
    assert Reservation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("quantity", [0, -1, True, "2"])
def test_quantity_must_be_a_positive_whole_number(person, quantity):
    stock = StockFactory(on_hand=4)
    with pytest.raises(DomainValidationError):
        services.reservation_create(stock=stock, quantity=quantity, reference="R", by=person)
    assert counts(stock) == (4, 0, 4)


@pytest.mark.django_db
@pytest.mark.parametrize("close", [services.reservation_consume, services.reservation_return])
def test_closing_twice_is_refused_and_applied_once(person, close):
    stock = StockFactory(on_hand=5)
    reservation = services.reservation_create(stock=stock, quantity=2, reference="R", by=person)
    close(reservation=reservation, by=person)
    after_first = counts(stock)
    with pytest.raises(DomainConflict, match="only a reserved one"):
        close(reservation=reservation, by=person)
    with pytest.raises(DomainConflict):
        services.reservation_consume(reservation=reservation, by=person)
    assert counts(stock) == after_first


@pytest.mark.django_db
def test_stock_adjust_cannot_go_below_reserved_and_needs_a_reason(person):
    stock = StockFactory(on_hand=5)
    services.reservation_create(stock=stock, quantity=4, reference="R", by=person)
    with pytest.raises(DomainConflict, match="4 units are reserved"):
        services.stock_adjust(stock=stock, on_hand=3, reason="Stock-take", by=person)
    with pytest.raises(DomainValidationError):
        services.stock_adjust(stock=stock, on_hand=8, reason="", by=person)
    with pytest.raises(DomainValidationError):
        services.stock_adjust(stock=stock, on_hand=-1, reason="Oops", by=person)
    services.stock_adjust(stock=stock, on_hand=4, reason="Stock-take", by=person)
    assert counts(stock) == (4, 4, 0)


# The constraints hold whatever writes the rows (services bypassed).


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"reserved": F("on_hand") + 1},
        {"on_hand": -1},
        {"reserved": -1},
        {"on_hand": F("reserved") - 1},
    ],
    ids=[
        "reserved-over-on-hand",
        "negative-on-hand",
        "negative-reserved",
        "on-hand-under-reserved",
    ],
)
def test_stock_constraints_refuse_impossible_counts(change):
    stock = StockFactory(on_hand=2, reserved=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(pk=stock.pk).update(**change)
    assert counts(stock) == (2, 1, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("quantity", [0, -3])
def test_reservation_quantity_constraint(quantity):
    with pytest.raises(IntegrityError), transaction.atomic():
        ReservationFactory(quantity=quantity)


@pytest.mark.django_db
def test_a_constraint_violation_inside_the_service_is_a_409(person, monkeypatch):
    # given the service's own check fooled by a stale row (as a reader without the lock could
    # see it), the CHECK constraint still refuses the update and the caller gets a 409
    stock = StockFactory(on_hand=1, reserved=1)
    locking = Stock.objects.select_for_update

    class StaleRead:
        def __init__(self, queryset):
            self.queryset = queryset

        def select_related(self, *fields):
            return StaleRead(self.queryset.select_related(*fields))

        def get(self, **lookup):
            row = self.queryset.get(**lookup)
            row.reserved = 0
            return row

    monkeypatch.setattr(Stock.objects, "select_for_update", lambda **kw: StaleRead(locking(**kw)))
    with pytest.raises(DomainConflict, match=r"^Only 0 free"):
        services.reservation_create(stock=stock, quantity=1, reference="R", by=person)
    monkeypatch.undo()
    assert counts(stock) == (1, 1, 0)
    assert not Reservation.objects.exists()


# The race for the last unit (real row locks need PostgreSQL).


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reservations_racing_for_the_last_unit():
    # given one free unit and two people reserving it at the same moment
    stock = StockFactory(on_hand=3, reserved=2)
    people = [UserFactory(), UserFactory()]
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def reserve(index):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = services.reservation_create(
                stock=Stock.objects.get(pk=stock.pk),
                quantity=1,
                reference=f"REL-RACE-{index}",
                by=people[index],
            )
        except Exception as error:
            outcomes[index] = error
        finally:
            close_old_connections()
            connection.close()

    # when
    run_together(partial(reserve, 0), partial(reserve, 1))

    # then exactly one wins, the other is told how many are free, and nothing is over-reserved
    won = [o for o in outcomes if isinstance(o, Reservation)]
    lost = [o for o in outcomes if isinstance(o, DomainConflict)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert str(lost[0]).startswith("Only 0 free")
    assert counts(stock) == (3, 3, 0)
    assert Reservation.objects.filter(stock=stock).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_consume_racing_a_stock_adjust_never_breaks_the_counts():
    stock = StockFactory(on_hand=4)
    person = UserFactory()
    reservation = services.reservation_create(stock=stock, quantity=2, reference="R", by=person)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def consume():
        try:
            barrier.wait(timeout=10)
            services.reservation_consume(reservation=reservation, by=person)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    def adjust():
        try:
            barrier.wait(timeout=10)
            services.stock_adjust(stock=stock, on_hand=2, reason="Stock-take", by=person)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    run_together(consume, adjust)

    on_hand, reserved, free = counts(stock)
    assert 0 <= reserved <= on_hand
    assert all(isinstance(e, DomainConflict) for e in errors), errors
