"""Reads of the CMDB. Seats in use are counted in SQL, in one query for any number of licences."""

from datetime import date

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from cmdb.choices import LicenceMetric
from cmdb.models import InstalledSoftware, Licence

_ACTIVE = Q(installations__removed_at__isnull=True)


def licences_with_usage(queryset: QuerySet | None = None) -> QuerySet:
    """Licences annotated with ``seats_in_use`` (installations per seat; distinct devices
    otherwise), ``seats_free`` (None for site licences), ``is_over``, ``is_low`` and ``is_expired``.
    One aggregate query whatever the number of licences and installations."""
    today = timezone.localdate()
    queryset = Licence.objects.all() if queryset is None else queryset
    installs = Count("installations", filter=_ACTIVE)
    devices = Count("installations__ci", filter=_ACTIVE, distinct=True)
    return (
        queryset.select_related("licence_product")
        .annotate(
            seats_in_use=Case(
                When(metric=LicenceMetric.PER_SEAT, then=installs),
                default=devices,
                output_field=IntegerField(),
            )
        )
        .annotate(
            seats_free=Case(
                When(metric=LicenceMetric.SITE, then=Value(None)),
                default=Greatest(F("seats") - F("seats_in_use"), Value(0)),
                output_field=IntegerField(),
            ),
            is_over=Case(
                When(
                    ~Q(metric=LicenceMetric.SITE) & Q(seats_in_use__gt=F("seats")), then=Value(True)
                ),
                default=Value(False),
            ),
            is_low=Case(
                When(
                    ~Q(metric=LicenceMetric.SITE)
                    & Q(seats_in_use__gte=F("seats") - F("low_seat_threshold")),
                    then=Value(True),
                ),
                default=Value(False),
            ),
            is_expired=Case(
                When(valid_until__lt=today, then=Value(True)),
                default=Value(False),
            ),
        )
    )


def licence_is_valid_on(licence: Licence, day: date) -> bool:
    return (licence.valid_from is None or licence.valid_from <= day) and (
        licence.valid_until is None or licence.valid_until >= day
    )


def current_installation(*, ci_id: int, product_id: int) -> InstalledSoftware | None:
    return (
        InstalledSoftware.objects.select_related("version", "licence")
        .filter(ci_id=ci_id, product_id=product_id, removed_at__isnull=True)
        .first()
    )
