"""The hot-path statements: a compiled query gives what its queryset gives; ``insert_once``
stores once and leaves the transaction usable on a repeat."""

import pytest
from django.db import connection, transaction

from releasemgmt.core.db import CompiledQuery, insert_once
from releases.webhooks.models import WebhookDelivery, WebhookSecret
from tests.factories import WebhookSourceFactory

pytestmark = pytest.mark.django_db

UNIQUE = "releases_webhook_delivery_unique_id"


def test_a_compiled_query_returns_what_its_queryset_returns():
    source = WebhookSourceFactory()
    WebhookSecret.objects.create(source=source, value="sealed-2", hint="h2")
    query = CompiledQuery(
        WebhookSecret,
        lambda name: WebhookSecret.objects.filter(source__name=name).select_related("source"),
    )
    fast = sorted(query.all(source.name), key=lambda s: s.pk)
    orm = sorted(
        WebhookSecret.objects.filter(source__name=source.name).select_related("source"),
        key=lambda s: s.pk,
    )
    assert [(s.pk, s.value, s.active, s.source.name) for s in fast] == [
        (s.pk, s.value, s.active, s.source.name) for s in orm
    ]
    assert query.all("no-such-source") == []
    assert query.first("no-such-source") is None


def test_insert_once_stores_then_refuses_a_repeat_and_the_transaction_goes_on():
    source = WebhookSourceFactory()
    first = WebhookDelivery(source=source, webhook_id="msg_1", headers={}, body="{}")
    with transaction.atomic():
        assert insert_once(first, UNIQUE)
        assert first.pk and not first._state.adding
        again = WebhookDelivery(source=source, webhook_id="msg_1", headers={}, body="{}")
        assert not insert_once(again, UNIQUE)
        assert again.pk is None
        # still usable: a refused insert did not abort the transaction
        assert WebhookDelivery.objects.filter(source=source).count() == 1
    stored = WebhookDelivery.objects.get(pk=first.pk)
    assert stored.received_at is not None and stored.status == first.status


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_prepares_repeated_statements_but_plans_each_search_for_its_values():
    # A plan made once for any value of a search can walk a whole index for a rare one.
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_custom_plan"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_plans_are_reused_inside_the_transaction_that_asks_only():
    from releasemgmt.core.db import reuse_plans

    def mode():
        with connection.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            return cursor.fetchone()[0]

    with transaction.atomic():
        reuse_plans()
        assert mode() == "auto"
    assert mode() == "force_custom_plan"  # SET LOCAL: gone with the transaction
    with pytest.raises(RuntimeError):
        reuse_plans()  # outside a transaction it would last for the connection
