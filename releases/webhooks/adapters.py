"""Adapters turn a source system's JSON into one ``ChangeEvent``. They are pure functions of the
payload and the source's settings: the endpoint runs them to refuse what cannot be mapped (400,
naming the field) and the processing task runs them again on the stored body."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.dateparse import parse_datetime

from releasemgmt.core.exceptions import DomainValidationError
from releases.webhooks.models import WebhookAdapter, WebhookSource

APPROVED = "approved"
UPDATED = "updated"
CANCELLED = "cancelled"


class MappingError(DomainValidationError):
    """The payload cannot be mapped; ``field`` is the JSON path of the culprit."""

    def __init__(self, field_path: str, message: str):
        self.field_path = field_path
        super().__init__({field_path: message})


@dataclass
class ChangeEvent:
    """What a delivery says about one change, whatever system sent it."""

    kind: str  # approved | updated | cancelled
    external_id: str
    version: str
    fields: dict = field(default_factory=dict)  # ChangeRequest fields present in the payload
    note: str = ""


def _object(value, path: str) -> dict:
    if not isinstance(value, dict):
        raise MappingError(path, "Expected a JSON object.")
    return value


def _text(container: dict, key: str, path: str, *, required: bool = True, limit: int = 300) -> str:
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float | type(None)):
        raise MappingError(path, "Expected a string.")
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise MappingError(path, "This field is required.")
    if len(text) > limit:
        raise MappingError(path, f"At most {limit} characters.")
    return text


def _stamp(moment: datetime) -> str:
    """A fixed-width UTC text, so that versions taken from timestamps compare as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _aware(text: str, path: str, zone=UTC) -> datetime | None:
    if not text:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        raise MappingError(path, f"Not a date and time: {text[:40]!r}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise MappingError(path, f"Date out of range: {text[:40]!r}.") from None


def _zone(source: WebhookSource):
    try:
        return ZoneInfo(source.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


GENERIC_TYPES = {
    "change.approved": APPROVED,
    "change.updated": UPDATED,
    "change.cancelled": CANCELLED,
}


def generic_map(payload, source: WebhookSource) -> ChangeEvent:
    """``{"type": "change.approved|updated|cancelled", "timestamp", "data": {"id", "number",
    "title", "state", "change_type", "planned_start", "planned_end", "url", "version"}}``."""
    payload = _object(payload, "body")
    kind_name = payload.get("type")
    kind = GENERIC_TYPES.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        raise MappingError("type", f"Expected one of {', '.join(GENERIC_TYPES)}.")
    data = _object(payload.get("data"), "data")
    zone = _zone(source)
    fields = {
        "number": _text(data, "number", "data.number", limit=50),
        "title": _text(data, "title", "data.title"),
    }
    for key in ("state", "change_type"):
        if key in data:
            fields[key] = _text(data, key, f"data.{key}", required=False, limit=50)
    if "url" in data:
        fields["url"] = _text(data, "url", "data.url", required=False, limit=500)
    for key in ("planned_start", "planned_end"):
        if key in data:
            fields[key] = _aware(
                _text(data, key, f"data.{key}", required=False), f"data.{key}", zone
            )
    version = _text(data, "version", "data.version", required=False, limit=100)
    if not version:
        stamp = _aware(_text(payload, "timestamp", "timestamp", required=False), "timestamp")
        version = _stamp(stamp) if stamp else ""
    fields["raw"] = payload
    return ChangeEvent(
        kind=kind,
        external_id=_text(data, "id", "data.id", limit=100),
        version=version,
        fields=fields,
    )


SERVICENOW_STATES = {
    "-5": ("New", UPDATED),
    "-4": ("Assess", UPDATED),
    "-3": ("Authorize", UPDATED),
    "-2": ("Scheduled", APPROVED),
    "-1": ("Implement", APPROVED),
    "0": ("Review", UPDATED),
    "3": ("Closed", UPDATED),
    "4": ("Canceled", CANCELLED),
}
_SERVICENOW_BY_NAME = {name.casefold(): (name, kind) for name, kind in SERVICENOW_STATES.values()}


def _sn_value(record: dict, key: str):
    """Reference fields come as a sys_id string or ``{"link", "value"}``; display-value exports as
    ``{"display_value", "value"}``."""
    value = record.get(key)
    if isinstance(value, dict):
        return value.get("value")
    return value


def servicenow_map(payload, source: WebhookSource) -> ChangeEvent:
    """A ``change_request`` record from the Table API or a business rule, with or without the
    ``{"result": {...}}`` wrapper."""
    record = _object(payload, "body")
    path = ""
    if isinstance(record.get("result"), dict):
        record, path = record["result"], "result."
    flat = {key: _sn_value(record, key) for key in record}
    state_text = _text(flat, "state", f"{path}state", limit=20)
    state = SERVICENOW_STATES.get(state_text) or _SERVICENOW_BY_NAME.get(state_text.casefold())
    if state is None:
        raise MappingError(
            f"{path}state",
            f"Unknown change state {state_text!r}; expected one of {', '.join(SERVICENOW_STATES)}.",
        )
    zone = _zone(source)
    fields = {
        "number": _text(flat, "number", f"{path}number", limit=50),
        "title": _text(flat, "short_description", f"{path}short_description"),
        "state": state[0],
        "change_type": _text(flat, "type", f"{path}type", required=False, limit=50),
        "raw": payload,
    }
    for key, name in (("start_date", "planned_start"), ("end_date", "planned_end")):
        if key in flat:
            text = _text(flat, key, f"{path}{key}", required=False)
            fields[name] = _aware(text, f"{path}{key}", zone)
    version = _text(flat, "sys_mod_count", f"{path}sys_mod_count", required=False, limit=20)
    if version and not version.lstrip("-").isdigit():
        raise MappingError(f"{path}sys_mod_count", "Expected a whole number.")
    return ChangeEvent(
        kind=state[1],
        external_id=_text(flat, "sys_id", f"{path}sys_id", limit=100),
        version=version,
        fields=fields,
    )


JIRA_EVENTS = ("jira:issue_created", "jira:issue_updated")


def jira_map(payload, source: WebhookSource) -> ChangeEvent:
    """A Jira / JSM issue webhook; the source says which status names mean approved/cancelled."""
    payload = _object(payload, "body")
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or event not in JIRA_EVENTS:
        raise MappingError("webhookEvent", f"Expected one of {', '.join(JIRA_EVENTS)}.")
    issue = _object(payload.get("issue"), "issue")
    fields_in = _object(issue.get("fields"), "issue.fields")
    status = _object(fields_in.get("status"), "issue.fields.status")
    status_name = _text(status, "name", "issue.fields.status.name", limit=50)
    folded = status_name.casefold()
    if folded in WebhookSource.status_names(source.cancelled_statuses):
        kind = CANCELLED
    elif folded in WebhookSource.status_names(source.approved_statuses):
        kind = APPROVED
    else:
        kind = UPDATED
    key = _text(issue, "key", "issue.key", limit=50)
    fields = {
        "number": key,
        "title": _text(fields_in, "summary", "issue.fields.summary"),
        "state": status_name,
        "raw": payload,
    }
    issuetype = fields_in.get("issuetype")
    if isinstance(issuetype, dict):
        fields["change_type"] = _text(issuetype, "name", "issue.fields.issuetype.name", limit=50)
    link = issue.get("self")
    if isinstance(link, str) and "/rest/" in link:
        fields["url"] = f"{link.split('/rest/')[0]}/browse/{key}"[:500]
    for name, source_field in (
        ("planned_start", source.planned_start_field),
        ("planned_end", source.planned_end_field),
    ):
        if source_field and source_field in fields_in:
            path = f"issue.fields.{source_field}"
            fields[name] = _aware(_text(fields_in, source_field, path, required=False), path)
    updated = _aware(
        _text(fields_in, "updated", "issue.fields.updated", required=False), "issue.fields.updated"
    )
    if updated is None and isinstance(payload.get("timestamp"), int):
        try:
            updated = datetime.fromtimestamp(payload["timestamp"] / 1000, tz=UTC)
        except (OverflowError, ValueError, OSError):
            raise MappingError("timestamp", "Expected milliseconds since 1970.") from None
    note = ""
    changelog = payload.get("changelog")
    if isinstance(changelog, dict) and isinstance(changelog.get("items"), list):
        for item in changelog["items"]:
            if isinstance(item, dict) and item.get("field") == "status":
                note = f"Status {item.get('fromString')} → {item.get('toString')}."
    return ChangeEvent(
        kind=kind,
        external_id=_text(issue, "id", "issue.id", limit=100),
        version=_stamp(updated) if updated else "",
        fields=fields,
        note=note,
    )


ADAPTERS = {
    WebhookAdapter.GENERIC: generic_map,
    WebhookAdapter.SERVICENOW: servicenow_map,
    WebhookAdapter.JIRA: jira_map,
}


def event_map(payload, source: WebhookSource) -> ChangeEvent:
    """Map ``payload`` with the source's adapter (``MappingError`` → 400 naming the field)."""
    return ADAPTERS[source.adapter](payload, source)
