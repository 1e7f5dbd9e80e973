"""Issue 12: the post-implementation review records an outcome, what went well and badly, and
follow-up actions — not a single optional text box."""

import pytest
from django.urls import reverse

from releasemgmt.core.exceptions import DomainValidationError
from releasemgmt.core.models import AuditEvent
from releases import services
from releases.choices import ReleaseState as S
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/releases/"


@pytest.fixture
def manager(role_user):
    return role_user("release_manager")


def test_a_review_without_an_outcome_is_refused(manager):
    release = ReleaseFactory(state=S.INSTALLED)
    with pytest.raises(DomainValidationError) as refused:
        services.release_transition(release=release, name="review", by=manager)
    assert "outcome" in refused.value.message
    with pytest.raises(DomainValidationError):
        services.release_transition(
            release=release, name="review", by=manager, details={"review": {"outcome": "great"}}
        )
    release.refresh_from_db()
    assert release.state == S.INSTALLED


def test_the_review_records_the_outcome_what_went_well_and_badly_and_the_actions(manager):
    release = ReleaseFactory(state=S.INSTALLED)
    release = services.release_transition(
        release=release,
        name="review",
        by=manager,
        details={
            "review": {
                "outcome": "partially_successful",
                "went_well": "Waves ran on time.",
                "went_badly": "Two targets needed a second attempt.",
                "follow_up_actions": ["Fix the agent's disk check", "  ", "Update the runbook"],
            }
        },
    )
    assert release.state == S.REVIEWED
    review = release.implementation_review
    assert (review.outcome, review.went_well, review.went_badly) == (
        "partially_successful",
        "Waves ran on time.",
        "Two targets needed a second attempt.",
    )
    assert review.follow_up_actions == ["Fix the agent's disk check", "Update the runbook"]
    assert (review.reviewed_by, review.reviewed_by_name) == (manager, manager.get_username())
    step = release.transitions.get(name="review")
    assert step.details["review"]["outcome"] == "partially_successful"
    assert AuditEvent.objects.get(action="release.review").after["review"]["follow_up_actions"]


def test_the_api_takes_the_review_and_shows_it_on_the_release(token_client, manager):
    release = ReleaseFactory(state=S.INSTALLED)
    client = token_client(manager)
    url = f"{URL}{release.pk}/transitions/review/"

    missing = client.post(url, {"reason": "fine"}, format="json")
    assert missing.status_code == 400
    assert "outcome" in str(missing.json())

    done = client.post(
        url,
        {
            "review": {
                "outcome": "successful",
                "went_well": "Everything",
                "follow_up_actions": ["Retire the old package"],
            }
        },
        format="json",
    )
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["state"] == S.REVIEWED
    assert body["review"]["outcome"] == "successful"
    assert body["review"]["follow_up_actions"] == ["Retire the old package"]
    assert body["review"]["reviewed_by"] == manager.get_username()

    unreviewed = client.get(f"{URL}{ReleaseFactory().pk}/").json()
    assert unreviewed["review"] is None


def test_the_release_page_shows_the_review(client, manager):
    release = ReleaseFactory(state=S.INSTALLED)
    services.release_transition(
        release=release,
        name="review",
        by=manager,
        details={
            "review": {
                "outcome": "failed",
                "went_badly": "The database migration timed out.",
                "follow_up_actions": ["Split the migration"],
            }
        },
    )
    client.force_login(manager)
    page = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert 'id="review"' in page
    assert "Failed" in page
    assert "The database migration timed out." in page
    assert "Split the migration" in page


def test_the_review_dialog_asks_for_the_outcome_and_the_lessons(client, manager):
    release = ReleaseFactory(state=S.INSTALLED)
    client.force_login(manager)
    page = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert 'name="outcome"' in page
    assert 'name="went_well"' in page
    assert 'name="went_badly"' in page
    assert 'name="follow_up_actions"' in page


def test_reviewing_from_the_page_records_the_review(client, manager):
    release = ReleaseFactory(state=S.INSTALLED)
    client.force_login(manager)
    url = reverse("releases:release-transition", args=[release.pk, "review"])

    refused = client.post(url, {"reason": "done"})
    assert refused.status_code == 400
    release.refresh_from_db()
    assert release.state == S.INSTALLED

    client.post(
        url,
        {
            "outcome": "successful",
            "went_well": "On time",
            "went_badly": "",
            "follow_up_actions": "Close the change\n\nTell the vendor",
        },
    )
    release.refresh_from_db()
    assert release.state == S.REVIEWED
    assert release.implementation_review.follow_up_actions == [
        "Close the change",
        "Tell the vendor",
    ]
