import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import factory
from standardwebhooks.webhooks import Webhook

from releases.models import WebhookAdapter, WebhookDelivery, WebhookSecret, WebhookSource

# A fixed test secret (32 bytes of 0x01, base64): tests sign with it through `standardwebhooks`.
TEST_SECRET = "whsec_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="


class WebhookSourceFactory(factory.django.DjangoModelFactory):
    """``WebhookSourceFactory(adapter="jira")``: a source with one live secret, ``TEST_SECRET``
    (``secret=...`` for another one)."""

    class Meta:
        model = WebhookSource
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"source-{n}")
    adapter = WebhookAdapter.GENERIC

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        if create:
            from releases.webhooks.secrets import secret_seal

            value = extracted or TEST_SECRET
            WebhookSecret.objects.create(source=self, value=secret_seal(value), hint=value[:12])


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    source = factory.SubFactory(WebhookSourceFactory)
    webhook_id = factory.Sequence(lambda n: f"msg_{n:08d}")
    headers = factory.LazyFunction(lambda: {"content-type": "application/json"})
    body = "{}"


# Signing with the independent `standardwebhooks` implementation, and posting deliveries.
FIXTURES = Path(__file__).parent.parent / "releases" / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def sign_headers(body: str, *, secret=TEST_SECRET, msg_id=None, when=None) -> dict:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = when or datetime.now(UTC)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(when.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, when, body),
    }


def post_signed(client, source_name, payload, *, body=None, content_type="application/json", **kw):
    """POST ``payload`` (or a raw ``body``) signed like a sender would; ``kw`` go to
    ``sign_headers`` (secret, msg_id, when)."""
    body = json.dumps(payload) if body is None else body
    return client.post(
        f"/api/v1/webhooks/{source_name}/",
        data=body,
        content_type=content_type,
        **sign_headers(body, **kw),
    )


def generic_event(kind="approved", *, ext="chg-1", version=None, **data):
    payload = {
        "type": f"change.{kind}",
        "timestamp": "2026-11-20T10:00:00Z",
        "data": {"id": ext, "number": "CHG0001", "title": "Upgrade Payroll", **data},
    }
    if version is not None:
        payload["data"]["version"] = version
    return payload
