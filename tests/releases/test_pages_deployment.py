"""The deployment pages (issue 5): the release page's deployment card with live progress and the
per-target table, install now and the freeze, the emergency install, the back-out banner and
queue with its decisions (approve; override requested by one person, confirmed by another), the
freeze windows, the verification report and the deployment fields of the plan."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from releases import services
from releases.choices import InstallationState as IS
from releases.choices import ReleaseState as S
from releases.models import (
    BackoutOverride,
    FreezeWindow,
    Release,
    ReleaseTarget,
    VerificationCheck,
    VerificationRun,
)
from releases.services import failure_conditions, overrides, reports
from tests.factories import (
    ConfigurationItemFactory,
    DiscrepancyFactory,
    ReleaseFactory,
    UserFactory,
)
from tests.releases.test_deployment import make_release

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def detail(release) -> str:
    return reverse("releases:release-detail", args=[release.pk])


def with_perm(user, codename: str):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return type(user).objects.get(pk=user.pk)  # a fresh instance: no cached permissions


def fail_until_halted(release, count: int = 3) -> Release:
    """Failed installation reports on the first ``count`` targets (enough to cross the
    failure-rate threshold: the release halts on the last one)."""
    for target in release.targets.order_by("pk")[:count]:
        reports.target_report(
            target_id=target.pk,
            kind="installation",
            status="failed",
            report_id=f"fail-{target.pk}",
            detail="msiexec exit 1603",
        )
    release.refresh_from_db()
    return release


@pytest.fixture
def ops(role_user):
    return role_user("ops", username="otto", time_zone="Europe/Berlin")


@pytest.fixture
def second_ops(role_user):
    return role_user("ops", username="olga")


@pytest.fixture
def manager(role_user):
    return role_user("release_manager", username="rita")


@pytest.fixture
def auditor(role_user):
    return role_user("auditor", username="aude")


@pytest.fixture
def halted(db):
    release = fail_until_halted(make_release(targets=10, threshold=20))
    assert release.state == S.BACKOUT_REQUIRED
    return release


def freeze_now(**fields) -> FreezeWindow:
    now = timezone.now()
    return FreezeWindow.objects.create(
        start=fields.pop("start", now - timedelta(hours=1)),
        end=fields.pop("end", now + timedelta(hours=3)),
        reason=fields.pop("reason", "Payroll run"),
        **fields,
    )


# What a viewer sees: everything, and no write action.

WRITE_URL_PATTERNS = (
    r"/backout/approve/",
    r"/backout/overrides/",
    r"/install-now/",
    r"/install-despite-freeze/",
    r"/freeze-windows/new/",
    r"/freeze-windows/\d+/delete/",
)


def test_every_deployment_page_renders_for_an_auditor_without_write_actions(
    client, auditor, halted, manager
):
    installing = make_release(targets=3)
    backing_out = fail_until_halted(make_release(targets=5, threshold=20), count=2)
    services.release_transition(
        release=backing_out, name="approve_backout", by=UserFactory(roles=["ops"])
    )
    run = VerificationRun.objects.create(release=installing, passed=True, checks_total=1)
    VerificationCheck.objects.create(run=run, kind="target_active", subject="x", ok=True)
    freeze_now()
    client.force_login(auditor)
    pages = [
        detail(installing),
        detail(halted),
        detail(backing_out),
        reverse("releases:deployment-progress", args=[installing.pk]),
        reverse("releases:backout-queue"),
        reverse("releases:backout-queue-list"),
        reverse("releases:freeze-window-list"),
        reverse("releases:verification-report", args=[installing.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for pattern in WRITE_URL_PATTERNS:
            assert not re.search(rf'action="[^"]*{pattern}', html), (url, pattern)
    queue = text_of(client.get(reverse("releases:backout-queue")))
    assert halted.number in queue and "Ops decide" in queue
    assert "failure rate 30.0% is above 20.00%" in queue


def test_deployment_writes_are_403_without_permission(client, auditor, halted):
    installing = make_release(targets=2)
    target = installing.targets.first()
    distributed = make_release(state=S.DISTRIBUTED, targets=1)
    window = freeze_now()
    client.force_login(auditor)
    writes = [
        reverse("releases:backout-approve", args=[halted.pk]),
        reverse("releases:override-request", args=[halted.pk]),
        reverse("releases:target-install-now", args=[installing.pk, target.pk]),
        reverse("releases:install-despite-freeze", args=[distributed.pk]),
        reverse("releases:freeze-window-create"),
        reverse("releases:freeze-window-delete", args=[window.pk]),
    ]
    override = BackoutOverride.objects.create(
        release=halted, reason="Known-bad lab host; production is fine.", requested_by=UserFactory()
    )
    writes.append(reverse("releases:override-confirm", args=[halted.pk, override.pk]))
    for url in writes:
        response = client.post(
            url,
            {
                f"override-{halted.pk}-reason": "A long enough reason to continue.",
                "reason": "Emergency: payments down",
                "start": "2026-12-01T08:00",
                "end": "2026-12-02T08:00",
                "scope": "everything",
            },
        )
        assert response.status_code == 403, url
    halted.refresh_from_db()
    target.refresh_from_db()
    assert halted.state == S.BACKOUT_REQUIRED and target.installation_state == IS.PENDING
    assert FreezeWindow.objects.filter(pk=window.pk).exists()
    assert BackoutOverride.objects.get().status == "requested"
    assert not BackoutOverride.objects.filter(requested_by=auditor).exists()


# The deployment card.


def test_the_deployment_card_shows_progress_and_the_targets_in_the_users_zone(client, manager):
    release = make_release(targets=4, wave_size=2, wave_interval_minutes=30)
    targets = list(release.targets.select_related("ci").order_by("ci__identifier"))
    ReleaseTarget.objects.filter(pk=targets[0].pk).update(
        installation_state=IS.RUNNING, due_at=datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    )
    reports.target_report(
        target_id=targets[0].pk,
        kind="installation",
        status="succeeded",
        report_id="ok-1",
        detail="installed 2.0, service restarted",
    )
    manager.time_zone = "Europe/Berlin"
    manager.save()
    client.force_login(manager)
    response = client.get(detail(release))
    html, text = response.content.decode(), text_of(response)
    card = re.search(r'<article id="deployment".*?</article>', html, re.S).group(0)
    assert 'hx-trigger="every 5s"' in card and f"seen={S.INSTALLING}" in card
    assert re.search(r'data-stage="installed">.*?<strong>1</strong> of 4', card, re.S)
    assert "in waves of 2 targets every 30 minutes" in text
    assert "2 waves for 4 targets" in text
    row = re.search(rf'<tr data-ci="{targets[0].ci.identifier}".*?</tr>', card, re.S).group(0)
    assert "Succeeded" in row and "installed 2.0, service restarted" in row
    assert "1 Jun 2026 10:00" in row  # 08:00 UTC in Berlin (summer time), the one format
    # a release manager may start the pending ones by hand
    assert card.count("/install-now/") == 3


def test_the_target_table_pages_and_filters(client, manager):
    release = make_release(targets=60)
    ReleaseTarget.objects.filter(
        pk__in=list(release.targets.order_by("pk").values_list("pk", flat=True)[:7])
    ).update(installation_state=IS.FAILED)
    client.force_login(manager)
    url = reverse("releases:deployment-progress", args=[release.pk])
    first = client.get(url).content.decode()
    assert first.count("<tr data-ci=") == 50
    assert "Page 1 of 2 · 1–50 of 60" in text_of(client.get(url))
    second = client.get(url, {"page": 2}).content.decode()
    assert second.count("<tr data-ci=") == 10
    failed = client.get(url, {"state": "failed"}).content.decode()
    assert failed.count("<tr data-ci=") == 7 and 'data-installation="failed"' in failed
    assert 'value="failed" selected' in failed
    none = client.get(url, {"distribution": "delivered"})
    assert "No target matches the filter." in text_of(none)
    # an unknown filter value is ignored, not a 500
    assert client.get(url, {"state": "nonsense", "page": "x"}).status_code == 200


def test_the_partial_asks_for_a_reload_when_the_state_changed(client, manager, halted):
    client.force_login(manager)
    url = reverse("releases:deployment-progress", args=[halted.pk])
    assert client.get(url, {"seen": S.INSTALLING})["HX-Refresh"] == "true"
    assert "HX-Refresh" not in client.get(url, {"seen": S.BACKOUT_REQUIRED})


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_release_page_costs_a_fixed_number_of_queries(
    client, manager, django_assert_max_num_queries
):
    # issue #13: counts and one page of the table, never a row per target
    small = make_release(targets=5, wave_size=50)
    large = make_release(targets=240, wave_size=50)
    targets = list(ReleaseTarget.objects.filter(release__in=[small, large]).order_by("pk"))
    for number, target in enumerate(targets):
        target.wave = 1 + number // 50
        target.installation_state = (IS.SUCCEEDED, IS.FAILED, IS.RUNNING, IS.SCHEDULED)[number % 4]
        target.last_report_at = timezone.now()
    ReleaseTarget.objects.bulk_update(targets, ["wave", "installation_state", "last_report_at"])
    freeze_now()  # install-now checks the freezes too
    client.force_login(manager)
    client.get(detail(small))  # session and permission caches warm
    baseline = _queries(client, detail(small))
    with django_assert_max_num_queries(baseline):
        response = client.get(detail(large))
    page = response.content.decode()
    assert "of 240" in page
    assert page.count("data-ci=") == 50  # one page of the table


def test_the_progress_partial_costs_a_fixed_number_of_queries(
    client, manager, django_assert_max_num_queries
):
    small = make_release(targets=5)
    large = make_release(targets=200)
    ReleaseTarget.objects.filter(release=large, ci__identifier__endswith="7").update(
        installation_state=IS.SCHEDULED, due_at=timezone.now()
    )
    freeze_now()  # install-now checks the freezes too
    client.force_login(manager)
    url = reverse("releases:deployment-progress", args=[small.pk])
    client.get(url)  # session and permission caches warm
    baseline = _queries(client, url)
    with django_assert_max_num_queries(baseline):
        client.get(reverse("releases:deployment-progress", args=[large.pk]))
    with django_assert_max_num_queries(baseline + 1):  # a distribution filter adds its COUNT
        client.get(
            reverse("releases:deployment-progress", args=[large.pk]),
            {"distribution": "pending", "page": 3},
        )


def test_install_now_starts_one_target(client, manager):
    release = make_release(targets=3)
    target = release.targets.order_by("pk").first()
    client.force_login(manager)
    response = client.post(
        reverse("releases:target-install-now", args=[release.pk, target.pk]),
        {"state": "pending", "page": "1"},
    )
    assert response.status_code == 302
    assert response["Location"] == detail(release) + "?state=pending&page=1#deployment"
    target.refresh_from_db()
    assert (target.installation_state, target.attempts) == (IS.RUNNING, 1)


def test_install_now_during_a_freeze_is_409_with_the_message(client, db):
    release = make_release(targets=2)
    target = release.targets.first()
    freeze_now(reason="Payroll run: hands off")
    installer = with_perm(with_perm(UserFactory(), "view_release"), "deploy_release")
    client.force_login(installer)  # may install, may not override a freeze
    card = client.get(detail(release)).content.decode()
    assert "A freeze is in force now:" in card and "freeze_override_reason" not in card
    response = client.post(reverse("releases:target-install-now", args=[release.pk, target.pk]))
    assert response.status_code == 409
    assert (
        "A freeze window is in force: Payroll run: hands off. Only an emergency override may "
        "start installations now." in text_of(response)
    )
    target.refresh_from_db()
    assert target.installation_state == IS.PENDING


def test_install_now_overrides_a_freeze_with_the_permission_and_a_reason(client, manager):
    release = make_release(targets=2)
    target = release.targets.first()
    freeze_now()
    emergency = with_perm(manager, "override_freeze")
    client.force_login(emergency)
    assert 'name="freeze_override_reason"' in client.get(detail(release)).content.decode()
    url = reverse("releases:target-install-now", args=[release.pk, target.pk])
    response = client.post(url, {"freeze_override_reason": "  "})
    assert response.status_code == 400
    assert "Give the reason for overriding the freeze." in text_of(response)
    response = client.post(url, {"freeze_override_reason": "INC0042: payments down"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.installation_state == IS.RUNNING


def test_install_refused_by_a_freeze_offers_the_emergency_override(client, manager, role_user):
    release = make_release(state=S.DISTRIBUTED, targets=2)
    freeze_now(reason="Year-end freeze")
    installer = with_perm(with_perm(UserFactory(), "view_release"), "deploy_release")
    client.force_login(installer)  # may install, may not override a freeze
    page = text_of(client.get(detail(release)))
    assert f"The installation window of {release.number} overlaps a freeze: Year-end freeze" in page
    assert "Install despite the freeze (emergency)" not in page
    refused = client.post(reverse("releases:release-transition", args=[release.pk, "install"]))
    assert refused.status_code == 409 and "Year-end freeze" in text_of(refused)

    # the emergency install needs what install needs, plus the freeze-override permission:
    # release managers hold both
    client.force_login(manager)
    assert "Install despite the freeze (emergency)" in text_of(client.get(detail(release)))
    url = reverse("releases:install-despite-freeze", args=[release.pk])
    missing = client.post(url, {"reason": ""})
    assert missing.status_code == 400 and "This field is required." in text_of(missing)
    response = client.post(url, {"reason": "CHG0031999: the payment outage fix"})
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.state == S.INSTALLING
    assert release.transitions.last().details == {"freeze_override": True}


def test_the_emergency_install_is_no_side_door_around_the_install_permission(client, role_user):
    # issue 11: one who may override freezes but may not install (a change manager granted the
    # override) gets no further through the emergency install than through install
    release = make_release(state=S.DISTRIBUTED, targets=2)
    freeze_now(reason="Year-end freeze")
    change_manager = with_perm(role_user("change_manager"), "override_freeze")
    client.force_login(change_manager)
    assert "Install despite the freeze (emergency)" not in text_of(client.get(detail(release)))

    response = client.post(
        reverse("releases:install-despite-freeze", args=[release.pk]),
        {"reason": "CHG0031999: the payment outage fix"},
    )

    assert response.status_code == 403
    assert "You do not have the permission to install releases." in text_of(response)
    release.refresh_from_db()
    assert release.state == S.DISTRIBUTED
    assert not release.transitions.exists()


def test_the_emergency_install_is_offered_only_while_a_freeze_applies(client, manager):
    release = make_release(state=S.DISTRIBUTED, targets=2)
    client.force_login(manager)
    assert "Install despite the freeze (emergency)" not in text_of(client.get(detail(release)))

    response = client.post(
        reverse("releases:install-despite-freeze", args=[release.pk]),
        {"reason": "CHG0031999: the payment outage fix"},
    )

    assert response.status_code == 409
    assert "No freeze window applies to the installation window of" in text_of(response)
    release.refresh_from_db()
    assert release.state == S.DISTRIBUTED


# The back-out banner and the queue.


def test_the_release_page_shows_the_back_out_banner_with_a_countdown(client, ops, halted):
    client.force_login(ops)
    response = client.get(detail(halted))
    html, text = response.content.decode(), text_of(response)
    banner = re.search(r'<article class="backout-banner required".*?</article>', html, re.S)
    assert banner, "the red banner"
    banner = banner.group(0)
    berlin = timezone.localtime(halted.backout_deadline, ZoneInfo("Europe/Berlin"))
    assert f'data-deadline="{berlin.isoformat()}"' in banner
    assert f"{berlin:%H:%M} {berlin.tzname()}" in banner  # the deadline in the user's zone
    assert "failure rate 30.0% is above 20.00%" in text
    assert "Failure rate 30.0 %" in text and "Halted at once 7" in text
    assert "Approve back-out" in banner and "Request override" in banner


def test_an_empty_queue_says_so(client, ops):
    client.force_login(ops)
    assert "No release is waiting for a back-out decision." in text_of(
        client.get(reverse("releases:backout-queue"))
    )


def test_approve_the_back_out_from_the_queue(client, ops, halted):
    client.force_login(ops)
    queue = client.get(reverse("releases:backout-queue")).content.decode()
    card = re.search(
        rf'<article class="queue-card" id="release-{halted.pk}".*?</article>', queue, re.S
    )
    assert card and "data-deadline=" in card.group(0)
    response = client.post(
        reverse("releases:backout-approve", args=[halted.pk]),
        {"origin": "queue", f"approve-{halted.pk}-reason": "Failures on three hosts: undo"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("releases:backout-queue") + f"#release-{halted.pk}"
    halted.refresh_from_db()
    assert halted.state == S.BACKING_OUT
    step = halted.transitions.last()
    assert (step.name, step.by, step.reason) == (
        "approve_backout",
        ops,
        "Failures on three hosts: undo",
    )
    text = text_of(client.get(reverse("releases:backout-queue")))
    assert "Backing out 1" in text and "Backed out 0 of 3" in text
    # a second approval finds the decision taken: 409 with the reason, on the queue
    again = client.post(reverse("releases:backout-approve", args=[halted.pk]), {"origin": "queue"})
    assert again.status_code == 409
    assert "it cannot approve backout now" in text_of(again)


def test_an_override_is_requested_by_one_and_confirmed_by_another(client, ops, second_ops, halted):
    # given ops asks to continue, with a reason
    client.force_login(ops)
    url = reverse("releases:override-request", args=[halted.pk])
    short = client.post(url, {"origin": "queue", f"override-{halted.pk}-reason": "fine"})
    assert short.status_code == 400
    assert "Write why continuing is safer than backing out" in text_of(short)
    assert ">fine</textarea>" in short.content.decode()  # the typed reason is kept
    response = client.post(
        url,
        {
            "origin": "queue",
            f"override-{halted.pk}-reason": "The three failures are lab hosts; production is fine.",
        },
    )
    assert response.status_code == 302
    override = BackoutOverride.objects.get(release=halted)

    # then the requester sees it waiting, without a Confirm button, and may not confirm it
    queue = text_of(client.get(reverse("releases:backout-queue")))
    assert "Override awaiting confirmation" in queue and "Confirm override" not in queue
    assert "nobody confirms their own override" in queue
    confirm = reverse("releases:override-confirm", args=[halted.pk, override.pk])
    refused = client.post(confirm, {"origin": "queue"})
    assert refused.status_code == 403
    assert "Nobody confirms their own override" in text_of(refused)
    halted.refresh_from_db()
    assert halted.state == S.BACKOUT_REQUIRED

    # when a second person confirms it
    client.force_login(second_ops)
    page = text_of(client.get(detail(halted)))
    assert "Confirm override" in page and "lab hosts" in page
    response = client.post(confirm, {"origin": "release"})
    assert response.status_code == 302 and response["Location"] == detail(halted)

    # then installation resumes and the override is counted
    halted.refresh_from_db()
    override.refresh_from_db()
    assert halted.state == S.INSTALLING
    assert (override.status, override.confirmed_by) == ("confirmed", second_ops)
    assert not halted.targets.filter(installation_state=IS.HALTED).exists()
    assert "No release is waiting for a back-out decision." in text_of(
        client.get(reverse("releases:backout-queue"))
    )


def test_a_second_override_request_is_409(client, ops, second_ops, halted):
    overrides.backout_override_request(
        release=halted, by=ops, reason="Known-bad lab hosts; production is fine."
    )
    client.force_login(second_ops)
    response = client.post(
        reverse("releases:override-request", args=[halted.pk]),
        {"origin": "release", f"override-{halted.pk}-reason": "Another long enough reason."},
    )
    assert response.status_code == 409
    assert "An override is already awaiting confirmation for this release." in text_of(response)


def test_an_auto_started_back_out_is_labelled(client, ops, halted):
    failure_conditions.watchdog(now=halted.backout_deadline + timedelta(seconds=1))
    client.force_login(ops)
    assert "started automatically (deadline passed)" in text_of(
        client.get(reverse("releases:backout-queue"))
    )
    assert "started automatically (deadline passed)" in text_of(client.get(detail(halted)))


def test_the_queue_costs_a_fixed_number_of_queries(
    client, ops, second_ops, django_assert_max_num_queries
):
    def waiting(n):
        for _ in range(n):
            release = fail_until_halted(make_release(targets=5, threshold=20), count=2)
            overrides.backout_override_request(
                release=release, by=second_ops, reason="Known-bad lab hosts; production is fine."
            )

    waiting(2)
    client.force_login(ops)
    url = reverse("releases:backout-queue-list")
    client.get(url)
    baseline = _queries(client, url)
    waiting(12)
    backing = fail_until_halted(make_release(targets=5, threshold=20), count=2)
    services.release_transition(release=backing, name="approve_backout", by=ops)
    with django_assert_max_num_queries(baseline):
        response = client.get(url)
    assert response.content.decode().count('class="queue-card"') == 14
    assert response.content.decode().count("Confirm override") == 14


# Freeze windows.


def test_a_freeze_window_is_declared_in_the_users_zone_and_deleted(client, role_user):
    change_manager = role_user("change_manager", time_zone="Europe/Berlin")
    unit = ConfigurationItemFactory(service=True, identifier="payroll")
    client.force_login(change_manager)
    page = client.get(reverse("releases:freeze-window-list"))
    assert "Declare a freeze window" in text_of(page)
    response = client.post(
        reverse("releases:freeze-window-create"),
        {
            "start": "2026-12-20T18:00",
            "end": "2027-01-04T08:00",
            "scope": "release_unit",
            "release_unit": unit.pk,
            "environment": "production",  # not used by this scope: dropped
            "reason": "Year-end payroll freeze",
        },
    )
    assert response.status_code == 302
    window = FreezeWindow.objects.get()
    assert window.start == datetime(2026, 12, 20, 17, 0, tzinfo=UTC)
    assert (window.scope, window.release_unit, window.environment) == ("release_unit", unit, "")
    assert window.created_by == change_manager
    listed = text_of(client.get(reverse("releases:freeze-window-list")))
    assert "Year-end payroll freeze" in listed and "payroll release unit" in listed
    response = client.post(reverse("releases:freeze-window-delete", args=[window.pk]))
    assert response.status_code == 302
    assert not FreezeWindow.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"start": "2026-12-02T10:00", "end": "2026-12-01T10:00", "scope": "everything"},
            "A freeze window must end after it starts.",
        ),
        (
            {"start": "2026-12-01T10:00", "end": "2026-12-02T10:00", "scope": "environment"},
            "Choose the environment the freeze applies to.",
        ),
        (
            {"start": "2026-12-01T10:00", "end": "2026-12-02T10:00", "scope": "release_unit"},
            "Choose the release unit the freeze applies to.",
        ),
        ({"start": "yesterday", "end": "2026-12-02T10:00"}, "Enter a valid date/time."),
    ],
)
def test_freeze_window_validation_errors(client, manager, data, message):
    client.force_login(manager)
    response = client.post(
        reverse("releases:freeze-window-create"), {"reason": "Quarter end", **data}
    )
    assert response.status_code == 400
    assert message in text_of(response)
    assert not FreezeWindow.objects.exists()


def test_current_upcoming_and_past_freezes(client, auditor):
    now = timezone.now()
    freeze_now(reason="In force")
    FreezeWindow.objects.create(
        start=now + timedelta(days=3), end=now + timedelta(days=4), reason="Coming"
    )
    FreezeWindow.objects.create(
        start=now - timedelta(days=4), end=now - timedelta(days=3), reason="Gone"
    )
    client.force_login(auditor)
    html = client.get(reverse("releases:freeze-window-list")).content.decode()
    current = re.search(r'<article id="current">.*?</article>', html, re.S).group(0)
    upcoming = re.search(r'<article id="upcoming">.*?</article>', html, re.S).group(0)
    past = re.search(r'<details id="past".*?</details>', html, re.S).group(0)
    assert "In force" in current and 'class="current"' in current
    assert "Coming" in upcoming and "Gone" in past
    assert "Declare a freeze window" not in html


# The verification report.


def test_the_verification_report_lists_the_checks_and_earlier_runs(client, auditor):
    release = ReleaseFactory(state=S.VERIFICATION_FAILED)
    earlier = VerificationRun.objects.create(
        release=release,
        started_at=timezone.now() - timedelta(days=1),
        passed=False,
        checks_total=2,
        checks_failed=1,
    )
    VerificationCheck.objects.create(run=earlier, kind="licence", subject="Office", ok=False)
    error = DiscrepancyFactory(subject="srv-01: Billing 3.5.0 expected, 3.4.0 found")
    latest = VerificationRun.objects.create(
        release=release, passed=False, checks_total=2, checks_failed=1
    )
    VerificationCheck.objects.create(
        run=latest,
        kind="from_version",
        subject="Billing on srv-01",
        ok=False,
        expected="3.5.0",
        found="3.4.0",
        discrepancy=error,
    )
    VerificationCheck.objects.create(
        run=latest, kind="target_active", subject="srv-01", ok=True, expected="active"
    )
    client.force_login(auditor)
    response = client.get(reverse("releases:verification-report", args=[release.pk]))
    html, text = response.content.decode(), text_of(response)
    assert "2 checks, 1 failed" in text
    assert "Expected version installed Billing on srv-01 failed 3.5.0 3.4.0" in text
    link = re.search(r'href="(/cmdb/errors/\?[^"#]*)#error-(\d+)"', html)
    assert link and int(link.group(2)) == error.pk
    errors = client.get(unescape(link.group(1)))  # the CMDB error list finds it
    assert errors.status_code == 200 and f'id="error-{error.pk}"' in errors.content.decode()
    assert f'href="?run={earlier.pk}"' in html
    older = client.get(
        reverse("releases:verification-report", args=[release.pk]), {"run": earlier.pk}
    )
    assert "Licence seats and validity Office failed" in text_of(older)
    failed_only = text_of(
        client.get(
            reverse("releases:verification-report", args=[release.pk]),
            {"run": latest.pk, "result": "failed"},
        )
    )
    assert "Billing on srv-01" in failed_only and "Target active in the CMDB srv-01" not in (
        failed_only
    )
    assert (
        client.get(
            reverse("releases:verification-report", args=[release.pk]), {"run": 999999}
        ).status_code
        == 404
    )
    # the release page sums it up and links the report
    summary = text_of(client.get(detail(release)))
    assert "Verification Full report Failed 2 checks, 1 failed" in summary


# The deployment fields of the plan.


def test_the_deployment_plan_is_edited_with_the_schedule(client, manager):
    release = ReleaseFactory(planned=True)
    client.force_login(manager)
    page = client.get(reverse("releases:release-plan", args=[release.pk])).content.decode()
    for name in ("distribution_method", "installation_mode", "wave_size", "login_threshold"):
        assert f'name="{name}"' in page
    url = reverse("releases:schedule-set", args=[release.pk])
    base = {
        "distribution_start": "2026-07-01T08:00",
        "distribution_end": "2026-07-01T20:00",
        "installation_start": "2026-07-02T06:00",
        "installation_end": "2026-07-02T10:00",
        "backout_decision_minutes": "20",
    }
    deploy = {
        "distribution_method": "deployment_tool",
        "deployment_tool": "",
        "installation_mode": "scheduled",
        "wave_size": "25",
        "wave_interval_minutes": "10",
        "login_threshold": "0",
    }
    refused = client.post(url, {**base, **deploy})
    assert refused.status_code == 400
    assert "Name the deployment tool that reports back." in text_of(refused)
    response = client.post(url, {**base, **deploy, "deployment_tool": "SCCM"})
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.distribution_method, release.deployment_tool) == ("deployment_tool", "SCCM")
    assert (release.wave_size, release.wave_interval_minutes) == (25, 10)
    # a post without the deployment fields keeps them
    assert client.post(url, base).status_code == 302
    release.refresh_from_db()
    assert release.wave_size == 25
    negative = client.post(url, {**base, **deploy, "deployment_tool": "SCCM", "wave_size": "-1"})
    assert negative.status_code == 400
    summary = text_of(client.get(detail(release)))
    assert "in waves of 25 targets every 10 minutes" in summary and "SCCM" in summary
