"""The Definitive Hardware Store: locations, hardware models, stock, and reservations
(reserved → consumed | returned)."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dsl_dhs.choices import ReservationStatus
from dsl_dhs.models import HardwareModel, Location, Reservation, Stock
from dsl_dhs.services.shared import create_from_fields, update_from_fields
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.services import person_or_none, record_delete, record_save

_LOCATION_FIELDS = {"code", "name", "address"}
_HARDWARE_MODEL_FIELDS = {"manufacturer", "name", "part_number", "kind", "description"}


@transaction.atomic
def location_create(*, by, **fields) -> Location:
    """Create a location (code unique)."""
    return create_from_fields(Location, by=by, fields=fields, allowed=_LOCATION_FIELDS)


@transaction.atomic
def location_update(*, location: Location, by, **fields) -> Location:
    """Change a location under a row lock."""
    return update_from_fields(location, by=by, fields=fields, allowed=_LOCATION_FIELDS)


@transaction.atomic
def location_delete(*, location: Location, by) -> None:
    """Delete a location; 409 while stock or configuration items are there."""
    record_delete(instance=location, actor=by)


@transaction.atomic
def hardware_model_create(*, by, **fields) -> HardwareModel:
    """Create a hardware model (part number unique, case-insensitive)."""
    return create_from_fields(HardwareModel, by=by, fields=fields, allowed=_HARDWARE_MODEL_FIELDS)


@transaction.atomic
def hardware_model_update(*, hardware_model: HardwareModel, by, **fields) -> HardwareModel:
    """Change a hardware model under a row lock."""
    return update_from_fields(hardware_model, by=by, fields=fields, allowed=_HARDWARE_MODEL_FIELDS)


@transaction.atomic
def hardware_model_delete(*, hardware_model: HardwareModel, by) -> None:
    """Delete a hardware model; 409 while stock or configuration items use it."""
    record_delete(instance=hardware_model, actor=by)


def _count(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DomainValidationError({field: "Give a whole number of units, 0 or more."})
    return value


@transaction.atomic
def stock_create(
    *, hardware_model: HardwareModel, location: Location, on_hand: int = 0, by
) -> Stock:
    """Start counting spares of a model at a location (one stock row per model and location,
    400 when it exists)."""
    stock = Stock(
        hardware_model=hardware_model, location=location, on_hand=_count(on_hand, "on_hand")
    )
    return record_save(instance=stock, actor=by)


@transaction.atomic
def stock_adjust(*, stock: Stock, on_hand: int, by, reason: str) -> Stock:
    """Set the number of units on hand after a delivery, a write-off or a stock-take. Locks the
    row; 409 below the units reserved; a reason is required and audited."""
    on_hand = _count(on_hand, "on_hand")
    reason = (reason or "").strip()
    if not reason:
        raise DomainValidationError(
            {"reason": "Say why the count changes (delivery, write-off, stock-take …)."}
        )
    locked = (
        Stock.objects.select_for_update(of=("self",))
        .select_related("hardware_model", "location")
        .get(pk=stock.pk)
    )
    if on_hand < locked.reserved:
        raise DomainConflict(
            f"Cannot set {locked.hardware_model} at {locked.location} to {on_hand} on hand: "
            f"{locked.reserved} units are reserved. Consume or return reservations first.",
            extra={"reserved": locked.reserved},
        )
    locked.on_hand = on_hand
    try:
        with transaction.atomic():
            return record_save(
                instance=locked, actor=by, action="dsl_dhs.stock.adjust", reason=reason
            )
    except IntegrityError:
        raise DomainConflict("The stock changed meanwhile; reload and try again.") from None


@transaction.atomic
def stock_delete(*, stock: Stock, by) -> None:
    """Stop counting a model at a location; 409 while reservations refer to it."""
    record_delete(instance=stock, actor=by)


# Reservations: reserved → consumed | returned


def _only_free(stock: Stock, free: int) -> DomainConflict:
    return DomainConflict(
        f"Only {free} free: {stock.hardware_model} at {stock.location} has {stock.on_hand} on "
        f"hand and {stock.reserved} reserved.",
        extra={"free": free},
    )


@transaction.atomic
def reservation_create(
    *, stock: Stock, quantity: int, reference: str, by, note: str = ""
) -> Reservation:
    """Hold ``quantity`` units of ``stock`` for ``reference`` (usually a release number).

    The stock row is locked (``select_for_update``) and ``free = on_hand - reserved`` checked:
    asking for more → 409 "only N free". ``reserved`` grows with an ``F()`` update, and the
    table's CHECK constraints refuse an over-reservation whatever wrote it (→ 409)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise DomainValidationError({"quantity": "Reserve at least 1 unit."})
    reference = (reference or "").strip()
    if not reference:
        raise DomainValidationError(
            {"reference": "Say what the units are for, e.g. a release number."}
        )
    locked = (
        Stock.objects.select_for_update(of=("self",))
        .select_related("hardware_model", "location")
        .get(pk=stock.pk)
    )
    free = locked.on_hand - locked.reserved
    if quantity > free:
        raise _only_free(locked, free)
    try:
        with transaction.atomic():
            Stock.objects.filter(pk=locked.pk).update(
                reserved=F("reserved") + quantity, updated_at=timezone.now()
            )
    except IntegrityError:
        locked.refresh_from_db()
        raise _only_free(locked, locked.on_hand - locked.reserved) from None
    reservation = Reservation(
        stock=locked,
        quantity=quantity,
        reference=reference,
        note=note or "",
        created_by=person_or_none(by),
    )
    return record_save(instance=reservation, actor=by)


def _close_reservation(*, reservation: Reservation, by, to: str, note: str) -> Reservation:
    locked = (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("stock__hardware_model", "stock__location")
        .get(pk=reservation.pk)
    )
    verb = "consume" if to == ReservationStatus.CONSUMED else "return"
    if locked.status != ReservationStatus.RESERVED:
        raise DomainConflict(
            f"Reservation {locked.reference or locked.pk} is already "
            f"{locked.get_status_display().lower()}; only a reserved one can be {verb}d.",
            extra={"status": locked.status},
        )
    Stock.objects.select_for_update().filter(pk=locked.stock_id).first()
    quantity = locked.quantity
    changes = {"reserved": F("reserved") - quantity, "updated_at": timezone.now()}
    if to == ReservationStatus.CONSUMED:
        changes["on_hand"] = F("on_hand") - quantity
    try:
        with transaction.atomic():
            Stock.objects.filter(pk=locked.stock_id).update(**changes)
    except IntegrityError:
        raise DomainConflict(
            "The stock no longer holds these units; an administrator must correct it."
        ) from None
    locked.status = to
    locked.closed_at = timezone.now()
    if note:
        locked.note = f"{locked.note}\n{note}".strip()
    return record_save(instance=locked, actor=by, action=f"dsl_dhs.reservation.{verb}", reason=note)


@transaction.atomic
def reservation_consume(*, reservation: Reservation, by, note: str = "") -> Reservation:
    """The reserved units were installed: reserved → consumed, ``on_hand`` and ``reserved`` both
    drop by the quantity. 409 unless the reservation is still reserved (a repeat is refused, never
    applied twice). Locks the reservation, then its stock row."""
    return _close_reservation(
        reservation=reservation, by=by, to=ReservationStatus.CONSUMED, note=note
    )


@transaction.atomic
def reservation_return(*, reservation: Reservation, by, note: str = "") -> Reservation:
    """The units go back to the shelf (release backed out or cancelled): reserved → returned,
    ``reserved`` drops by the quantity. 409 unless still reserved. Same locks as consume."""
    return _close_reservation(
        reservation=reservation, by=by, to=ReservationStatus.RETURNED, note=note
    )
