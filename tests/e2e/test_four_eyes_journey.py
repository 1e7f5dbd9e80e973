"""Issue 12 in a real browser: a release of a four-eyes category goes from ``testing`` to
``closed``. Its owner is told that signing off their own tests needs someone else; a second
release manager signs off, verifies and records the post-implementation review; the owner
distributes after the distribution window with a confirmation and a reason. The agents' reports
(not people's work) come through the reporting service."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from releases import services
from releases.choices import ReleaseState as S
from releases.models import Release
from releases.services import installation, reports
from tests.e2e.conftest import TIMEOUT_MS, VIEWPORT, confirm, open_dialog
from tests.factories import ReleaseCategoryFactory, UserFactory
from tests.releases.test_deployment import make_release

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def report_all(release: Release, kind: str) -> None:
    for target in release.targets.all():
        reports.target_report(
            target_id=target.pk, kind=kind, status="succeeded", report_id=f"{kind}-{target.pk}"
        )


def test_four_eyes_and_a_window_confirmation_from_testing_to_closed(
    browser, live_server, page, login, screenshot
):
    # given: Rita owns a release of a four-eyes category, in testing; its distribution window
    # closed yesterday, its installation window is open now
    owner = UserFactory(
        username="rita", first_name="Rita", last_name="Release", roles=["release_manager"]
    )
    colleague = UserFactory(
        username="remy", first_name="Remy", last_name="Release", roles=["release_manager"]
    )
    category = ReleaseCategoryFactory(name="Standard change", four_eyes=True)
    release = make_release(state=S.BUILT, targets=2, threshold=50, category=category, owner=owner)
    now = timezone.now()
    Release.objects.filter(pk=release.pk).update(
        distribution_start=now - timedelta(days=2), distribution_end=now - timedelta(days=1)
    )
    services.release_transition(release=release.pk, name="start_tests", by=owner)
    detail = f"/releases/{release.pk}/"

    # the owner may not sign off their own tests: the page says so instead of offering the forms
    login(page, owner)
    page.goto(detail)
    expect(page.locator("#summary")).to_contain_text("Four eyes")
    note = page.locator("#tests .four-eyes")
    expect(note).to_contain_text("needs someone other than the owner, Rita Release (rita)")
    expect(page.locator("#tests form.sign-off")).to_have_count(0)
    screenshot(page, "owner-told")

    # a second release manager signs every test off
    other = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB")
    other.set_default_timeout(TIMEOUT_MS)
    second = other.new_page()
    login(second, colleague)
    second.goto(detail)
    for n in range(second.locator("#tests .test-item").count()):
        item = second.locator("#tests .test-item").nth(n)
        item.get_by_label("Passed").check()
        item.get_by_label("Evidence").fill("Rehearsed in test: baseline restored, suite green")
        item.get_by_role("button", name="Sign off").click()
        expect(second.get_by_role("status")).to_contain_text("signed off as passed")

    # the owner accepts, plans the roll-out and completes its tasks
    page.goto(detail)
    confirm(page, open_dialog(page, "accept"), "Tests signed off by Remy", "now accepted")
    confirm(page, open_dialog(page, "plan_rollout"), "Comms and training set", "now roll-out")
    while page.locator("#rollout").get_by_role("button", name="Mark done").count():
        page.locator("#rollout").get_by_role("button", name="Mark done").first.click()
        expect(page.get_by_role("status")).to_contain_text("marked done")

    # the owner's Verify says before the click that someone else verifies; the colleague does
    page.goto(detail)
    expect(page.locator('#actions li[data-transition="verify"] > .problems')).to_contain_text(
        "needs someone other than the owner"
    )
    second.goto(detail)
    confirm(second, open_dialog(second, "verify"), "Checked against the CMDB", "now verified")

    # the owner distributes after the window: the dialog asks for the confirmation
    page.goto(detail)
    dialog = open_dialog(page, "distribute")
    expect(dialog).to_contain_text("now is outside its distribution window")
    dialog.get_by_role("checkbox").check()
    expect(dialog.get_by_role("checkbox")).to_have_accessible_name(re.compile("Go ahead outside"))
    screenshot(page, "distribute-outside-window", full_page=False)
    confirm(page, dialog, "Vendor delivered a day late; CAB agreed", "now distributing")
    timeline = page.locator('#timeline li[data-transition="distribute"]')
    expect(timeline).to_contain_text("Went ahead outside the plan's window (confirmed).")
    expect(timeline).to_contain_text("Vendor delivered a day late; CAB agreed")

    # the agents report; the owner installs inside its window; the agents report again
    report_all(release, "distribution")
    page.goto(detail)
    confirm(page, open_dialog(page, "install"), "Go", "now installing")
    installation.installations_dispatch_due()
    report_all(release, "installation")

    # the colleague records the review: outcome, lessons, follow-up actions
    second.goto(detail)
    dialog = open_dialog(second, "review")
    dialog.get_by_label("Outcome").select_option("partially_successful")
    dialog.get_by_label("What went well").fill("Both targets installed in the first wave.")
    dialog.get_by_label("What went badly").fill("Distribution ran a day after its window.")
    dialog.get_by_label("Follow-up actions").fill("Ask the vendor for dates\nUpdate the runbook")
    screenshot(second, "review-dialog", full_page=False)
    confirm(second, dialog, "Reviewed with ops", "now reviewed")
    review = second.locator("#review")
    expect(review).to_contain_text("Partially successful")
    expect(review).to_contain_text("Distribution ran a day after its window.")
    expect(review.locator("li")).to_have_text(["Ask the vendor for dates", "Update the runbook"])
    other.close()

    # the owner closes it
    page.goto(detail)
    confirm(page, open_dialog(page, "close"), "Done", "now closed")
    release.refresh_from_db()
    assert release.state == S.CLOSED
    by = dict(release.transitions.values_list("name", "by_name"))
    assert (by["verify"], by["review"], by["distribute"]) == ("remy", "remy", "rita")
