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


def test_the_demo_pilot_halts_waves_that_had_not_started_and_two_ops_people_decide():
    """Issue 12: every wave was released before anyone started the agents, so the halt stopped
    nothing ("halted at once: 0"), and with one ops user an override needed `admin`."""
    import hashlib
    from datetime import timedelta

    from django.utils import timezone

    from releases.models import BackoutOverride
    from releases.services import installation, overrides, reports

    call_command("seed_demo", stdout=StringIO())
    pilot = Release.objects.get(title="Microsoft 365 Apps 2412 pilot")
    later = timezone.now() + timedelta(hours=1)  # long after every wave's due time

    # given: `make run` has been up a while, nobody has started the agents yet
    assert installation.installations_dispatch_due(now=later) == 5
    assert installation.installations_dispatch_due(now=later) == 0

    # when the reference agents (`make agents`: a CI fails by its name at 30 %) report wave by wave
    def fails(identifier: str) -> bool:
        return int(hashlib.sha256(identifier.encode()).hexdigest(), 16) % 1000 < 300

    for _ in range(4):
        for target in pilot.targets.filter(installation_state="running").select_related("ci"):
            reports.target_report(
                target_id=target.pk,
                kind="installation",
                status="failed" if fails(target.ci.identifier) else "succeeded",
                report_id=f"agent-{target.pk}",
            )
        pilot.refresh_from_db()
        if pilot.state != "installing":
            break
        installation.installations_dispatch_due(now=later)

    # then the failure rate halts the release and the waves not yet started with it
    assert pilot.state == "backout_required"
    assert pilot.targets.filter(installation_state="halted").count() == 10  # waves 3 and 4

    # and one ops person requests an override, the other confirms it
    ops, second = (get_user_model().objects.get(username=name) for name in ("ops", "ops-2"))
    override = overrides.backout_override_request(
        release=pilot, by=ops, reason="Known Outlook add-in issue; fix pushed by GPO"
    )
    overrides.backout_override_confirm(override=override, by=second)
    assert BackoutOverride.objects.get(pk=override.pk).confirmed_by == second
