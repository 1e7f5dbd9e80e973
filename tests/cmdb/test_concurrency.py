"""Licence seats under real concurrency (PostgreSQL row locks)."""

import threading
from functools import partial

import pytest
from django.db import connection

from cmdb import services
from cmdb.choices import ErrorKind, LicenceMetric
from cmdb.models import Discrepancy, InstalledSoftware
from cmdb.selectors import licences_with_usage
from tests.concurrency import run_together
from tests.factories import (
    ConfigurationItemFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_installations_racing_for_the_last_seat():
    # given: a per-seat licence with one seat left and two CIs
    product = SoftwareProductFactory(licensed=True)
    version = SoftwareVersionFactory(product=product, with_artefact=False)
    licence = LicenceFactory(
        licence_product=product.licence_product, metric=LicenceMetric.PER_SEAT, seats=2
    )
    InstalledSoftwareFactory(version=version, licence=licence)
    cis = ConfigurationItemFactory.create_batch(2)
    barrier = threading.Barrier(2)
    results, failures = {}, []

    def install(ci):
        try:
            barrier.wait(timeout=10)
            row = services.installed_software_record(ci=ci, version=version, by=None)
            results[ci.pk] = row.licence_id
        except Exception as error:  # surfaced by the assertion below
            failures.append(error)
        finally:
            connection.close()

    # when: both record an installation at the same moment
    run_together(*[partial(install, ci) for ci in cis])

    # then: exactly one took the seat; the other is recorded without a licence, with an error
    assert failures == []
    assert sorted(results.values(), key=lambda v: v is None) == [licence.pk, None]
    assert InstalledSoftware.objects.filter(ci__in=cis).count() == 2
    assert licences_with_usage().get(pk=licence.pk).seats_in_use == 2
    loser = next(pk for pk, licence_id in results.items() if licence_id is None)
    assert Discrepancy.objects.filter(kind=ErrorKind.LICENCE_MISSING, ci_id=loser).count() == 1
