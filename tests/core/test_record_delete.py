"""``record_delete`` is one transaction: a refused delete leaves no audit event behind."""

import pytest

from releasemgmt.core.exceptions import DomainConflict
from releasemgmt.core.models import AuditEvent
from releasemgmt.core.services import record_delete
from tests.factories import StockFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # no test transaction to hide a leftover


def test_a_protected_record_is_409_and_nothing_is_written():
    stock = StockFactory()
    location = stock.location

    with pytest.raises(DomainConflict):
        record_delete(instance=location, actor=UserFactory())

    assert type(location).objects.filter(pk=location.pk).exists()
    assert not AuditEvent.objects.filter(action="dsl_dhs.location.delete").exists()


def test_a_delete_is_audited():
    location = StockFactory().location
    location.stock.all().delete()

    record_delete(instance=location, actor=UserFactory())

    assert AuditEvent.objects.filter(action="dsl_dhs.location.delete").exists()
