"""Property-based: whatever bodies and headers are thrown at the webhook endpoint, the answer is
JSON with a 2xx/4xx status — never a 500 — and whatever is accepted processes without raising."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releases.models import DeliveryStatus, WebhookDelivery
from releases.webhooks.services import webhook_delivery_process
from tests.factories import WebhookSourceFactory
from tests.factories.webhooks import fixture, sign_headers

pytestmark = pytest.mark.django_db

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXPECTED = {200, 202, 400, 401, 404, 410, 413, 415}

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
maybe = (
    scalars
    | json_values
    | st.sampled_from(["", "-2", "4", "2026-12-01 20:00:00", "2026-12-01T20:00:00Z"])
)

generic_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["change.approved", "change.updated", "change.cancelled", "x"])
        | maybe
    },
    optional={
        "timestamp": maybe,
        "data": st.fixed_dictionaries(
            {},
            optional={
                k: maybe
                for k in (
                    "id",
                    "number",
                    "title",
                    "state",
                    "planned_start",
                    "planned_end",
                    "version",
                    "url",
                )
            },
        )
        | maybe,
    },
)


def _servicenow_like(draw_dict):
    record = fixture("servicenow_change_scheduled.json")["result"]
    record.update(draw_dict)
    return record


servicenow_like = st.dictionaries(
    st.sampled_from(
        [
            "state",
            "sys_id",
            "number",
            "short_description",
            "start_date",
            "end_date",
            "sys_mod_count",
            "type",
        ]
    ),
    maybe,
    max_size=4,
).map(_servicenow_like)


def _jira_like(changes):
    payload = fixture("jira_issue_updated_approved.json")
    for path, value in changes.items():
        target = payload
        *parents, leaf = path.split(".")
        for key in parents:
            target = (
                target[key] if isinstance(target.get(key), dict) else target.setdefault(key, {})
            )
            if not isinstance(target, dict):
                break
        else:
            target[leaf] = value
    return payload


jira_like = st.dictionaries(
    st.sampled_from(
        [
            "webhookEvent",
            "timestamp",
            "issue.id",
            "issue.key",
            "issue.self",
            "issue.fields.summary",
            "issue.fields.status",
            "issue.fields.status.name",
            "issue.fields.updated",
            "issue.fields.customfield_10035",
            "issue.fields.issuetype",
            "changelog",
        ]
    ),
    maybe,
    max_size=4,
).map(_jira_like)


@pytest.fixture
def sources(db):
    return {
        "generic": WebhookSourceFactory(name="gen"),
        "servicenow": WebhookSourceFactory(name="snow", adapter="servicenow"),
        "jira": WebhookSourceFactory(
            name="jsm", adapter="jira", planned_start_field="customfield_10035"
        ),
    }


def _check(response):
    assert response.status_code in EXPECTED, response.content
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), dict)
    if response.status_code == 202:
        delivery = webhook_delivery_process(delivery_id=response.json()["delivery"])
        assert delivery.status in (DeliveryStatus.PROCESSED, DeliveryStatus.FAILED)
        assert delivery.outcome


def _post_signed(client, name, body: str, content_type="application/json"):
    return client.post(
        f"/api/v1/webhooks/{name}/",
        data=body.encode("utf-8", "surrogatepass"),
        content_type=content_type,
        **sign_headers(body),
    )


@SETTINGS
@given(
    payload=st.one_of(
        st.tuples(st.just("gen"), generic_like),
        st.tuples(st.just("snow"), servicenow_like),
        st.tuples(st.just("jsm"), jira_like),
        st.tuples(st.sampled_from(["gen", "snow", "jsm"]), json_values),
    )
)
def test_signed_json_of_any_shape_never_500(sources, api_client, payload):
    name, body = payload
    _check(_post_signed(api_client, name, json.dumps(body)))


@SETTINGS
@given(body=st.text(max_size=200))
def test_signed_arbitrary_text_never_500(sources, api_client, body):
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return
    _check(_post_signed(api_client, "gen", body))


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@SETTINGS
@given(
    source=st.sampled_from(["gen", "snow", "nope"])
    | st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
    )
    | header_text,
    body=st.binary(max_size=300),
    webhook_id=header_text,
    timestamp=header_text | st.integers(min_value=-(10**12), max_value=10**12).map(str),
    signature=header_text | st.lists(header_text, max_size=3).map(" ".join),
    accept=header_text,
)
def test_arbitrary_unsigned_requests_never_500(
    sources, api_client, source, content_type, body, webhook_id, timestamp, signature, accept
):
    response = api_client.generic(
        "POST",
        f"/api/v1/webhooks/{source}/",
        data=body,
        content_type=content_type,
        HTTP_WEBHOOK_ID=webhook_id,
        HTTP_WEBHOOK_TIMESTAMP=timestamp,
        HTTP_WEBHOOK_SIGNATURE=signature,
        HTTP_ACCEPT=accept,
    )
    assert response.status_code in EXPECTED - {200, 202}, response.content
    assert response.json()["detail"]
    assert not WebhookDelivery.objects.exists()
