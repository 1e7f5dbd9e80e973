"""Issue #12: ``available_transitions`` tells what the caller can do now — each transition with
``ready`` and, when not ready, the ``problems`` (the sentences a 409 gives); transitions reserved
to the system are never offered to people."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from releasemgmt.core.exceptions import DomainConflict
from releases import services
from releases.choices import ReleaseState as S
from releases.models import FreezeWindow, Release
from tests.factories import ReleaseCategoryFactory, ReleaseFactory, UserFactory
from tests.releases.test_deployment import make_release

pytestmark = pytest.mark.django_db

URL = "/api/v1/releases/"


def by_name(items) -> dict:
    return {item["name"]: item for item in items}


def test_each_transition_says_whether_it_is_ready_and_what_stops_it(token_client, role_user):
    # given: a requested release with nothing in its plan
    manager = role_user("release_manager")
    release = ReleaseFactory(state=S.REQUESTED)

    body = token_client(manager).get(f"{URL}{release.pk}/").json()

    items = by_name(body["available_transitions"])
    assert list(items) == ["plan", "cancel"]
    assert items["cancel"] == {
        "name": "cancel",
        "ready": True,
        "problems": [],
        "reason_required": True,
    }
    assert items["plan"]["ready"] is False
    # the same sentences the refusal gives
    refused = token_client(manager).post(f"{URL}{release.pk}/transitions/plan/", {}, format="json")
    assert refused.status_code == 409
    assert items["plan"]["problems"] == refused.json()["problems"]
    assert "Add at least one item to the contents." in items["plan"]["problems"]


def test_the_refusal_lists_what_is_available_in_the_same_form(token_client, role_user):
    release = ReleaseFactory(state=S.PLANNED, planned=True)
    response = token_client(role_user("release_manager")).post(
        f"{URL}{release.pk}/transitions/accept/", {}, format="json"
    )
    assert response.status_code == 409
    items = by_name(response.json()["available_transitions"])
    assert list(items) == ["build", "cancel"]
    assert all(
        set(item) == {"name", "ready", "problems", "reason_required"} for item in items.values()
    )


def test_the_freeze_guard_is_a_problem_of_install_before_anyone_clicks(role_user):
    manager = role_user("release_manager")
    release = make_release(state=S.DISTRIBUTED, targets=1)
    assert by_name(services.available_transitions(release, manager))["install"]["ready"] is True
    FreezeWindow.objects.create(
        start=timezone.now() - timedelta(hours=1),
        end=timezone.now() + timedelta(days=1),
        reason="Year-end freeze",
    )

    install = by_name(services.available_transitions(release, manager))["install"]

    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="install", by=manager)
    assert install["ready"] is False
    assert install["problems"] == [refused.value.message]
    assert "Year-end freeze" in install["problems"][0]


@pytest.mark.parametrize("state", [S.INSTALLING, S.DISTRIBUTING, S.BACKOUT_REQUIRED, S.BACKING_OUT])
def test_system_transitions_are_never_offered_to_people_not_even_a_superuser(state):
    release = ReleaseFactory(state=state)
    superuser = UserFactory(superuser=True)

    offered = {item["name"] for item in services.available_transitions(release, superuser)}

    system = {name for name, row in services.lifecycle.TABLE.items() if row.system}
    assert not offered & system
    if state == S.BACKOUT_REQUIRED:
        assert offered == {"approve_backout", "override_backout"}


def test_an_override_is_never_ready_as_a_transition_for_one_person(role_user):
    release = ReleaseFactory(state=S.BACKOUT_REQUIRED)
    ops = role_user("ops")
    override = by_name(services.available_transitions(release, ops))["override_backout"]
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(
            release=release, name="override_backout", by=ops, reason="continue, it is fine"
        )
    assert (override["ready"], override["problems"]) == (False, [refused.value.message])


# The release page: a blocked transition is a disabled button with its problems, not a primary
# button that leads to a "refused" page.


def test_the_page_shows_a_blocked_transition_disabled_with_its_problems(client, role_user):
    # given: a release in testing whose test scope is not signed off (nothing to accept yet)
    release = ReleaseFactory(state=S.TESTING)
    client.force_login(role_user("release_manager"))

    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()

    accept = re.search(r'<li data-transition="accept" class="blocked">(.*?)</ul>', html, re.S)
    assert accept, "accept is shown as blocked"
    assert re.search(r"<button[^>]*disabled[^>]*>Accept", accept.group(1))
    assert "The test scope is empty: start the tests first." in accept.group(1)
    assert 'data-open-dialog="dialog-accept"' not in html
    assert 'id="dialog-accept"' not in html
    # what is ready stays a button that opens its dialog
    assert 'data-open-dialog="dialog-cancel"' in html


def test_the_page_never_offers_a_system_transition_to_a_superuser(client):
    release = ReleaseFactory(state=S.BACKING_OUT)
    client.force_login(UserFactory(superuser=True))
    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert 'data-transition="complete_backout"' not in html


def test_the_category_policies_are_problems_before_anyone_asks(role_user):
    # given: the owner of a four-eyes release waiting for verification, and a release to be
    # distributed although its distribution window has not opened
    manager = role_user("release_manager")
    four_eyes = ReleaseFactory(
        state=S.ROLLOUT_PLANNED, owner=manager, category=ReleaseCategoryFactory(four_eyes=True)
    )
    early = make_release(state=S.VERIFIED, targets=1)
    Release.objects.filter(pk=early.pk).update(
        distribution_start=timezone.now() + timedelta(days=1),
        distribution_end=timezone.now() + timedelta(days=2),
        installation_start=timezone.now() + timedelta(days=2),
        installation_end=timezone.now() + timedelta(days=3),
    )
    early.refresh_from_db()

    # then: each says what its 409 would say
    verify = by_name(services.available_transitions(four_eyes, manager))["verify"]
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=four_eyes, name="verify", by=manager)
    assert (verify["ready"], verify["problems"]) == (False, [refused.value.message])
    distribute = by_name(services.available_transitions(early, manager))["distribute"]
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=early, name="distribute", by=manager)
    assert (distribute["ready"], distribute["problems"]) == (False, [refused.value.message])
    assert "confirm that it runs outside the window" in distribute["problems"][0]


def test_the_page_keeps_a_confirmable_transition_outside_its_window_a_button(client, role_user):
    # the dialog asks for the confirmation the API asks for: not a reason to disable the button
    release = ReleaseFactory(state=S.VERIFIED, planned=True)
    client.force_login(role_user("release_manager"))
    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert 'data-open-dialog="dialog-distribute"' in html
    assert 'name="confirm_outside_window"' in html
