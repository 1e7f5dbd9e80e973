"""Issue 12, discipline gaps: distributing or installing outside the plan's window needs a
confirmation with a reason (or is refused, as the category says); a four-eyes category makes
test sign-off, verification and review someone other than the release's owner."""

from datetime import timedelta

import pytest
from django.utils import timezone

from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.models import AuditEvent
from releases import services
from releases.choices import InstallationState as IS
from releases.choices import ReleaseState as S
from releases.choices import TestResult
from releases.models import ReleaseTarget, TestScopeItem
from releases.services import installation
from tests.factories import ReleaseCategoryFactory, ReleaseFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/releases/"


@pytest.fixture
def manager(role_user):
    return role_user("release_manager")


def early_release(state, **fields):
    """Windows that open tomorrow (the factory's plan)."""
    return ReleaseFactory(state=state, planned=True, **fields)


def inside_release(state, **fields):
    now = timezone.now()
    return ReleaseFactory(
        state=state,
        planned=True,
        distribution_start=now - timedelta(hours=1),
        distribution_end=now + timedelta(hours=1),
        installation_start=now - timedelta(minutes=5),
        installation_end=now + timedelta(hours=2),
        **fields,
    )


# Windows


def test_distributing_before_the_distribution_window_needs_a_confirmation_with_a_reason(manager):
    # given: verified, its distribution window opens tomorrow
    release = early_release(S.VERIFIED)

    # when: distributed now, without a word → refused, naming the window and how to confirm
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="distribute", by=manager)
    assert "distribution window" in refused.value.message
    assert "confirm" in refused.value.message
    release.refresh_from_db()
    assert release.state == S.VERIFIED

    # a confirmation without a reason is not enough
    with pytest.raises(DomainValidationError):
        services.release_transition(
            release=release,
            name="distribute",
            by=manager,
            details={"confirm_outside_window": True},
        )

    # then: confirmed with a reason, it distributes, and the timeline and audit log say so
    release = services.release_transition(
        release=release,
        name="distribute",
        by=manager,
        reason="The vendor moved the date forward",
        details={"confirm_outside_window": True},
    )
    assert release.state == S.DISTRIBUTING
    step = release.transitions.get(name="distribute")
    assert step.details["confirm_outside_window"] is True
    assert step.reason == "The vendor moved the date forward"
    event = AuditEvent.objects.get(action="release.outside_window")
    assert (event.actor, event.reason) == (manager, "The vendor moved the date forward")
    assert event.after["window"] == "distribution"


def test_distributing_inside_the_window_needs_no_confirmation(manager):
    release = inside_release(S.VERIFIED)
    release = services.release_transition(release=release, name="distribute", by=manager)
    assert release.state == S.DISTRIBUTING
    assert not AuditEvent.objects.filter(action="release.outside_window").exists()


def test_a_category_that_refuses_work_outside_the_window_refuses_even_a_confirmation(manager):
    category = ReleaseCategoryFactory(outside_window="refuse")
    release = early_release(S.VERIFIED, category=category)
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(
            release=release,
            name="distribute",
            by=manager,
            reason="please",
            details={"confirm_outside_window": True},
        )
    assert "distribution window" in refused.value.message
    assert category.name in refused.value.message
    release.refresh_from_db()
    assert release.state == S.VERIFIED


def test_installing_after_the_installation_window_needs_a_confirmation(manager):
    now = timezone.now()
    release = ReleaseFactory(
        state=S.DISTRIBUTED,
        planned=True,
        distribution_start=now - timedelta(days=3),
        distribution_end=now - timedelta(days=2),
        installation_start=now - timedelta(days=2),
        installation_end=now - timedelta(days=1),
    )
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="install", by=manager)
    assert "installation window" in refused.value.message
    release = services.release_transition(
        release=release,
        name="install",
        by=manager,
        reason="Window missed by a day; CAB agreed",
        details={"confirm_outside_window": True},
    )
    assert release.state == S.INSTALLING


def test_installing_on_a_condition_before_the_window_needs_a_confirmation(manager):
    # condition mode installs as soon as a target's logins allow: before the window, unless held
    release = early_release(S.DISTRIBUTED, installation_mode="condition")
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="install", by=manager)
    assert "installation window" in refused.value.message


def test_scheduled_installation_may_be_armed_before_its_window(manager):
    # scheduled mode puts every due time inside the window: arming it early starts nothing early
    release = early_release(S.DISTRIBUTED)
    release = services.release_transition(release=release, name="install", by=manager)
    assert release.state == S.INSTALLING
    target = release.targets.get()
    assert target.installation_state == IS.SCHEDULED
    assert target.due_at >= release.installation_start


def test_install_now_before_the_installation_window_needs_a_confirmation(manager):
    release = early_release(S.INSTALLING, installation_mode="manual")
    target = release.targets.get()
    with pytest.raises(DomainConflict) as refused:
        installation.target_install_now(target=target, by=manager)
    assert "installation window" in refused.value.message
    target.refresh_from_db()
    assert target.installation_state == IS.PENDING

    with pytest.raises(DomainValidationError):
        installation.target_install_now(target=target, by=manager, confirm_outside_window=True)

    target = installation.target_install_now(
        target=target,
        by=manager,
        confirm_outside_window=True,
        outside_window_reason="Pilot machine, its user asked for it today",
    )
    assert target.installation_state == IS.RUNNING
    event = AuditEvent.objects.get(action="release.install_now")
    assert event.reason == "Pilot machine, its user asked for it today"
    assert event.after["outside_window"] == "installation"


def test_install_now_refused_outright_when_the_category_says_so(manager):
    release = early_release(
        S.INSTALLING,
        installation_mode="manual",
        category=ReleaseCategoryFactory(outside_window="refuse"),
    )
    with pytest.raises(DomainConflict):
        installation.target_install_now(
            target=release.targets.get(),
            by=manager,
            confirm_outside_window=True,
            outside_window_reason="please",
        )


def test_the_api_takes_the_confirmation_and_the_reason(token_client, manager):
    release = early_release(S.VERIFIED)
    client = token_client(manager)
    url = f"{URL}{release.pk}/transitions/distribute/"

    refused = client.post(url, {}, format="json")
    assert refused.status_code == 409
    assert "distribution window" in refused.json()["detail"]

    done = client.post(
        url, {"confirm_outside_window": True, "reason": "Vendor moved it"}, format="json"
    )
    assert done.status_code == 200, done.content
    assert done.json()["state"] == S.DISTRIBUTING


def test_the_install_now_api_takes_the_confirmation(token_client, manager):
    release = early_release(S.INSTALLING, installation_mode="manual")
    target = release.targets.get()
    client = token_client(manager)
    url = f"/api/v1/release-targets/{target.pk}/install-now/"
    assert client.post(url, {}, format="json").status_code == 409
    done = client.post(
        url,
        {"confirm_outside_window": True, "outside_window_reason": "User asked"},
        format="json",
    )
    assert done.status_code == 200, done.content
    assert done.json()["installation_state"] == IS.RUNNING


# Four eyes


def four_eyes_release(state, owner, **fields):
    return inside_release(state, category=ReleaseCategoryFactory(four_eyes=True), owner=owner)


def test_in_a_four_eyes_category_the_owner_does_not_sign_off_their_own_tests(role_user, manager):
    release = four_eyes_release(S.TESTING, owner=manager)
    test = TestScopeItem.objects.create(release=release, kind="changed_item", title="Changed: x")
    with pytest.raises(DomainConflict) as refused:
        services.test_item_sign_off(item=test, result=TestResult.PASSED, by=manager)
    assert "someone other than the owner" in refused.value.message
    assert manager.get_username() in refused.value.message
    test.refresh_from_db()
    assert test.result == TestResult.PENDING

    colleague = role_user("release_manager")
    test = services.test_item_sign_off(item=test, result=TestResult.PASSED, by=colleague)
    assert test.signed_off_by == colleague


def test_in_a_four_eyes_category_the_owner_does_not_verify_their_own_release(role_user, manager):
    release = four_eyes_release(S.ROLLOUT_PLANNED, owner=manager)
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="verify", by=manager)
    assert "someone other than the owner" in refused.value.message
    release.refresh_from_db()
    assert release.state == S.ROLLOUT_PLANNED
    assert not release.verification_runs.exists()

    # someone else runs the verification (whatever it finds)
    release = services.release_transition(
        release=release, name="verify", by=role_user("configuration_manager")
    )
    assert release.state in (S.VERIFIED, S.VERIFICATION_FAILED)


def test_in_a_four_eyes_category_the_owner_does_not_review_their_own_release(role_user, manager):
    release = four_eyes_release(S.INSTALLED, owner=manager)
    review = {"review": {"outcome": "successful"}}
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=release, name="review", by=manager, details=review)
    assert "someone other than the owner" in refused.value.message
    release = services.release_transition(
        release=release, name="review", by=role_user("release_manager"), details=review
    )
    assert release.state == S.REVIEWED


def test_four_eyes_through_the_api_is_409_with_the_sentence(token_client, manager):
    release = four_eyes_release(S.ROLLOUT_PLANNED, owner=manager)
    refused = token_client(manager).post(
        f"{URL}{release.pk}/transitions/verify/", {}, format="json"
    )
    assert refused.status_code == 409
    assert "someone other than the owner" in refused.json()["detail"]


def test_without_four_eyes_the_owner_may_do_it_all(manager):
    release = inside_release(S.TESTING, owner=manager, category=ReleaseCategoryFactory())
    test = TestScopeItem.objects.create(release=release, kind="changed_item", title="Changed: x")
    services.test_item_sign_off(item=test, result=TestResult.PASSED, by=manager)
    assert ReleaseTarget.objects.filter(release=release).exists()
