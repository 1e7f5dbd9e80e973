"""The Jira signing relay printed in the README works as printed: it signs a Jira webhook body the
Standard Webhooks way and releasemgmt accepts it (once, however often Jira resends it)."""

import io
import re
import textwrap
from pathlib import Path

import pytest

from releases.models import WebhookDelivery
from releases.webhooks.services import webhook_source_create

README = Path(__file__).resolve().parents[2] / "README.md"
FIXTURES = Path(__file__).parent / "fixtures"


def relay_app(monkeypatch, secret: str, target: str):
    """The ``relay.py`` block of the README, executed as it stands."""
    code = re.search(r"```python\n( *# relay\.py.*?)\n *```", README.read_text(), re.S)
    assert code, "README: the Jira signing relay (```python # relay.py …```) is missing"
    monkeypatch.setenv("JIRA_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("TARGET", target)
    namespace = {"__name__": "relay"}
    program = textwrap.dedent(code.group(1))
    exec(compile(program, "README.md relay.py", "exec"), namespace)  # noqa: S102
    return namespace["app"]


def relay(app, body: bytes) -> str:
    answer = {}

    def start_response(status, headers):
        answer["status"] = status

    app({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}, start_response)
    return answer["status"]


@pytest.mark.django_db(transaction=True)
def test_the_readme_relay_signs_jira_webhooks_that_are_accepted_once(live_server, monkeypatch):
    # given: a jira source and the README's relay pointed at it
    source, secret = webhook_source_create(name="jsm", adapter="jira")
    app = relay_app(monkeypatch, secret, f"{live_server.url}/api/v1/webhooks/jsm/")
    body = (FIXTURES / "jira_issue_created.json").read_bytes()

    # when: Jira sends the webhook, then sends it again
    first, again = relay(app, body), relay(app, body)

    # then: accepted, then recognised as the same delivery
    assert first.startswith("202")
    assert again.startswith("200")
    delivery = WebhookDelivery.objects.get(source=source)
    assert delivery.webhook_id.startswith("jira_")
    assert delivery.event_type
