"""`seed_demo` (run by `make run`) builds the whole demo and can run again without change."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from releases import services
from releases.models import Release, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_releases_in_many_states_and_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    states = dict(Release.objects.values_list("title", "state"))
    assert states["Billing 3.5.0 (full)"] == "closed"
    assert states["Billing Q4 bundle"] == "accepted"
    assert states["Customer portal regression (full)"] == "testing"
    assert states["Billing tax tables 2027"] == "planned"
    assert states["Billing 3.6.0: SEPA instant payments"] == "requested"
    pilot = Release.objects.get(title="Microsoft 365 Apps 2412 pilot")
    assert pilot.state == "installing"
    assert pilot.targets.filter(installation_state="scheduled").count() == 20
    levels = set(Release.objects.values_list("level", flat=True))
    assert levels == {"delta", "package", "full"}
    testing = Release.objects.get(title="Customer portal regression (full)")
    assert testing.test_scope.filter(result="passed").exists()
    assert testing.test_scope.filter(result="pending").exists()

    # issue 12: the standard category takes four eyes — a second release manager signs off,
    # verifies and reviews; the baseline went ahead outside its windows with a confirmation
    baseline = Release.objects.get(title="Billing 3.5.0 (full)")
    assert baseline.category.four_eyes
    assert baseline.owner.username == "release-manager"
    by = dict(baseline.transitions.values_list("name", "by_name"))
    assert (by["verify"], by["review"]) == ("release-manager-2", "release-manager-2")
    assert baseline.transitions.get(name="distribute").details["confirm_outside_window"]
    assert baseline.implementation_review.outcome == "successful"
    assert {t.signed_off_by.username for t in baseline.test_scope.all()} == {"release-manager-2"}
    assert pilot.transitions.get(name="verify").by_name == "release-manager-2"

    # the ServiceNow source's three changes, signed and processed like any delivery
    deliveries = WebhookDelivery.objects.filter(source__name="snow-demo")
    assert set(deliveries.values_list("status", flat=True)) == {"processed"}
    assert deliveries.count() == 3
    from_change = Release.objects.get(change_requests__number="CHG0040101")
    assert (from_change.state, from_change.trigger) == ("requested", "change_request")
    assert not Release.objects.filter(change_requests__number="CHG0040103").exists()

    releases = Release.objects.count()  # the demo releases and the past year's
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert deliveries.count() == 3
    assert Release.objects.count() == releases
    assert "Demo releases already present." in out.getvalue()


def test_the_demo_accepted_release_can_be_verified():
    """Its next steps work: the CMDB holds the versions its plan replaces on its targets."""
    call_command("seed_demo", stdout=StringIO())
    package = Release.objects.get(title="Billing Q4 bundle")
    manager = get_user_model().objects.get(username="release-manager")
    checker = get_user_model().objects.get(username="config-manager")
    package = services.release_transition(release=package, name="plan_rollout", by=manager)
    for task in package.rollout_tasks.filter(status="pending"):
        services.rollout_task_complete(task=task, by=manager)

    package = services.release_transition(release=package, name="verify", by=checker)

    assert package.state == "verified"
    assert package.verification_runs.get().checks_failed == 0
