"""The post-implementation review: what ``review`` asks for (an outcome; what went well, what
went badly and the follow-up actions, prompted but optional) and the record it writes. Called
by the lifecycle's ``review`` handler, inside the transition's transaction; takes no transition."""

from django.utils import timezone

from releasemgmt.core.exceptions import DomainValidationError
from releasemgmt.core.services import SYSTEM_ACTOR
from releases.choices import ReviewOutcome
from releases.models import Release, ReleaseReview


def _actions(value) -> list[str]:
    """Follow-up actions as a list of sentences: a list, or one text with one per line."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise DomainValidationError({"follow_up_actions": "Give the actions as a list of texts."})
    return [item.strip() for item in value if item.strip()]


def review_read(data) -> dict:
    """The review as given (``{"outcome", "went_well", "went_badly", "follow_up_actions"}``),
    checked and cleaned: 400 without a known outcome."""
    data = data if isinstance(data, dict) else {}
    outcome = data.get("outcome")
    if outcome not in ReviewOutcome.values:
        choices = ", ".join(label.lower() for label in ReviewOutcome.labels)
        raise DomainValidationError({"outcome": f"Record the outcome of the review: {choices}."})
    texts = {}
    for field in ("went_well", "went_badly"):
        value = data.get(field) or ""
        if not isinstance(value, str):
            raise DomainValidationError({field: "Give a text."})
        texts[field] = value.strip()
    return {
        "outcome": outcome,
        **texts,
        "follow_up_actions": _actions(data.get("follow_up_actions")),
    }


def review_record(release: Release, by, review: dict) -> ReleaseReview:
    """Write the review of ``release`` (read by ``review_read``), in the caller's transaction."""
    return ReleaseReview.objects.create(
        release=release,
        reviewed_by=by,
        reviewed_by_name=by.get_username() if by is not None else SYSTEM_ACTOR,
        reviewed_at=timezone.now(),
        **review,
    )
