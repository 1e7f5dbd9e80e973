"""Demo releases of all three levels in many states, with genuine timelines: each is walked
through the real services. Runs after the CMDB and DSL demos (units "billing" and
"customer-portal", their servers, and the DSL products) and skips what they did not create."""

import json
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from cmdb.choices import CIKind
from cmdb.models import ConfigurationItem
from cmdb.services.items import ci_create
from dsl_dhs.models import SoftwareVersion
from releases import demo_history, services
from releases.choices import FailureConditionKind, ReleaseLevel, ReleaseState, TestResult, Trigger
from releases.models import Release, UnitComponent, WebhookSource
from releases.services import reports
from releases.webhooks import services as webhooks

COMPONENTS = {
    "billing": ["Billing Service", "Oracle Database"],
    "customer-portal": ["Customer Portal", "Nginx"],
}
CHANGES = [
    ("CHG0031001", "Billing 3.5.0: invoice rounding fix"),
    ("CHG0031042", "Billing 3.6.0: SEPA instant payments"),
    ("CHG0031057", "Oracle 19.22 quarterly patch for billing"),
    ("CHG0031063", "Billing: tax table update for 2027"),
    ("CHG0031070", "Customer portal regression release"),
]


def _version(product: str, version: str) -> SoftwareVersion | None:
    return SoftwareVersion.objects.filter(product__name=product, version=version).first()


def _walk(release, manager, names, reason="", details=None):
    for name in names:
        system = name.startswith("complete_") or name in ("require_backout", "fail_verification")
        release = services.release_transition(
            release=release,
            name=name,
            by=None if system else manager,
            reason=reason,
            details=details,
        )
    return release


def _sign_off(release, manager, *, passed: int | None = None):
    """Sign off the pending tests — by ``manager``, who in a four-eyes category ("Standard
    change") is someone other than the release's owner."""
    tests = list(release.test_scope.filter(result=TestResult.PENDING).order_by("kind", "id"))
    for test in tests[: len(tests) if passed is None else passed]:
        services.test_item_sign_off(
            item=test,
            result=TestResult.PASSED,
            by=manager,
            evidence="Rehearsed in test: previous version restored, smoke tests green."
            if test.kind == "backout_rehearsal"
            else "Test run #4711 green",
        )


def _planned(*, manager, title, level, unit, items, targets, changes=(), category=None, days=7):
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
    release = services.release_create(
        by=manager,
        title=title,
        level=level,
        release_unit=unit,
        category=category,
        trigger=Trigger.CHANGE_REQUEST if changes else Trigger.MANUAL,
        trigger_reference=changes[0].number if changes else "",
        change_requests=changes,
        distribution_start=start,
        distribution_end=start + timedelta(hours=20),
        installation_start=start + timedelta(hours=22),
        installation_end=start + timedelta(hours=26),
    )
    present = set(release.items.values_list("software_version_id", flat=True))
    for version, change in items:
        if version.pk not in present:
            services.release_item_add(
                release=release, by=manager, software_version=version, change_request=change
            )
    services.release_targets_set(release=release, cis=targets, by=manager)
    services.release_backout_plan_set(
        release=release,
        by=manager,
        steps=[
            "Stop the service on each target",
            "Reinstall the previous version from the DSL",
            "Run the smoke tests",
            "Tell the service desk",
        ],
    )
    services.release_failure_condition_add(
        release=release, by=manager, kind=FailureConditionKind.FAILURE_RATE_ABOVE, threshold=20
    )
    services.release_failure_condition_add(
        release=release, by=manager, kind=FailureConditionKind.WINDOW_ENDED_WITH_PENDING
    )
    return release


def seed(stdout) -> None:
    manager = get_user_model().objects.filter(username="release-manager").first()
    # the second pair of eyes of the four-eyes category: tests, verification and review
    colleague = get_user_model().objects.filter(username="release-manager-2").first()
    units = {
        ci.identifier: ci
        for ci in ConfigurationItem.objects.filter(identifier__in=list(COMPONENTS))
    }
    if manager is None or colleague is None or set(units) != set(COMPONENTS):
        stdout.write(
            "Releases demo skipped: the demo users and the CMDB demo units are needed first."
        )
        return
    categories = demo_history.history_categories()
    for identifier, products in COMPONENTS.items():
        for product in products:
            version = (
                SoftwareVersion.objects.filter(product__name=product)
                .select_related("product")
                .first()
            )
            if version is not None:
                UnitComponent.objects.get_or_create(unit=units[identifier], product=version.product)
    changes = {}
    for number, title in CHANGES:
        changes[number], _ = services.change_request_upsert(
            source_system="servicenow-demo",
            external_id=number.lower(),
            number=number,
            title=title,
            state="scheduled",
            change_type="normal",
        )
    if Release.objects.filter(title__startswith="Billing 3.5.0").exists():
        _seed_pilot(manager, colleague, categories, stdout)
        _seed_webhooks(stdout)
        stdout.write("Demo releases already present.")
        _seed_history(categories, stdout)
        return

    billing, portal = units["billing"], units["customer-portal"]
    billing_servers = list(ConfigurationItem.objects.filter(identifier__startswith="bill-prod-"))
    web_servers = list(ConfigurationItem.objects.filter(identifier__startswith="web-prod-"))
    versions = {
        key: _version(*key)
        for key in [
            ("Billing Service", "3.5.0"),
            ("Billing Service", "3.6.0"),
            ("Oracle Database", "19.21"),
            ("Oracle Database", "19.22"),
            ("Customer Portal", "1.9.0"),
            ("Nginx", "1.26.2"),
        ]
    }
    if None in versions.values() or not billing_servers or not web_servers:
        stdout.write(
            "Releases demo skipped: the DSL demo versions or the CMDB demo servers are missing."
        )
        return
    standard = categories["Standard change"]

    # A Full release of billing, closed: the baseline the others are measured against.
    baseline = _planned(
        manager=manager,
        title="Billing 3.5.0 (full)",
        level=ReleaseLevel.FULL,
        unit=billing,
        category=standard,
        items=[
            (versions["Billing Service", "3.5.0"], None),
            (versions["Oracle Database", "19.21"], None),
        ],
        targets=billing_servers,
        changes=[changes["CHG0031001"]],
        days=-30,
    )
    baseline = _walk(baseline, manager, ["plan", "build", "start_tests"], reason="CAB 2026-10-20")
    _sign_off(baseline, colleague)
    baseline = _walk(baseline, manager, ["accept", "plan_rollout"])
    for task in baseline.rollout_tasks.filter(status="pending"):
        services.rollout_task_complete(task=task, by=manager)
    baseline = _walk(baseline, colleague, ["verify"])
    # its windows lay a month back: going ahead outside them is confirmed, with a reason
    baseline = _walk(
        baseline,
        manager,
        ["distribute", "complete_distribution", "install", "complete_installation"],
        reason="The vendor delivered after the planned windows; CAB agreed to go ahead",
        details={"confirm_outside_window": True},
    )
    baseline = _walk(
        baseline,
        colleague,
        ["review"],
        details={
            "review": {
                "outcome": "successful",
                "went_well": "Installed on every target inside the agreed outage.",
                "went_badly": "The vendor delivered a month late, after the planned windows.",
                "follow_up_actions": ["Ask the vendor for delivery dates before the CAB"],
            }
        },
    )
    _walk(baseline, manager, ["close"], reason="Installed on every target")

    # Delta, requested: straight from a change, plan still to write.
    services.release_create_from_change(
        change=changes["CHG0031042"], by=manager, release_unit=billing
    )

    # Package, accepted: two changes bundled.
    package = _planned(
        manager=manager,
        title="Billing Q4 bundle",
        level=ReleaseLevel.PACKAGE,
        unit=billing,
        category=standard,
        items=[
            (versions["Billing Service", "3.6.0"], changes["CHG0031042"]),
            (versions["Oracle Database", "19.22"], changes["CHG0031057"]),
        ],
        targets=billing_servers,
        changes=[changes["CHG0031042"], changes["CHG0031057"]],
        days=10,
    )
    package = _walk(package, manager, ["plan", "build", "start_tests"], reason="CAB 2026-11-24")
    _sign_off(package, colleague)
    _walk(package, manager, ["accept"], reason="All tests green, rehearsal done")

    # Full, in testing with partial sign-off.
    full = _planned(
        manager=manager,
        title="Customer portal regression (full)",
        level=ReleaseLevel.FULL,
        unit=portal,
        category=standard,
        items=[(versions["Customer Portal", "1.9.0"], None), (versions["Nginx", "1.26.2"], None)],
        targets=web_servers,
        changes=[changes["CHG0031070"]],
        days=14,
    )
    full = _walk(full, manager, ["plan", "build", "start_tests"])
    _sign_off(full, colleague, passed=1)

    # Delta, planned: the plan is approved, the build not yet done.
    emergency = _planned(
        manager=manager,
        title="Billing tax tables 2027",
        level=ReleaseLevel.DELTA,
        unit=billing,
        category=categories["Emergency fix"],
        items=[(versions["Billing Service", "3.6.0"], changes["CHG0031063"])],
        targets=billing_servers[:1],
        changes=[changes["CHG0031063"]],
        days=3,
    )
    _walk(emergency, manager, ["plan"], reason="Emergency CAB")
    _seed_pilot(manager, colleague, categories, stdout)
    _seed_webhooks(stdout)
    stdout.write(
        f"Demo releases: {Release.objects.count()} (closed baseline, requested, planned, testing, accepted)."
    )
    _seed_history(categories, stdout)


# The units the past year's releases went to (their servers; the workplace's workstations).
HISTORY_UNITS = (
    "billing",
    "customer-portal",
    "identity",
    "data-warehouse",
    "monitoring",
    "workplace",
)


def _seed_history(categories, stdout) -> None:
    """A year of releases that ended — completed, backed out, cancelled — with their targets,
    timelines, changes, a handful of overrides and one automatic back-out, and the CMDB and
    licence errors found and resolved meanwhile: written in bulk once (recognised by its
    production change requests), so the KPI page shows trends."""
    if demo_history.history_present():
        return
    units = demo_history.history_units(HISTORY_UNITS)
    if not units:
        return
    counts = demo_history.history_generate(
        releases=300,
        targets_per_release=(1, 60),
        errors=200,
        months=12,
        seed=2026,
        users=demo_history.history_users(),
        units=units,
        categories=categories,
    )
    stdout.write(
        f"Demo history: {counts['releases']} releases over the past year "
        f"({counts['backed_out']} backed out, {counts['cancelled']} cancelled), "
        f"{counts['errors']} CMDB and licence errors."
    )


PILOT_TITLE = "Microsoft 365 Apps 2412 pilot"


def _seed_pilot(manager, colleague, categories, stdout) -> None:
    """A release in ``installing`` on 20 workstations for the reference agents
    (``make agents``), its tests signed off and its verification run by ``colleague`` (four
    eyes). A new one is made whenever no release is installing — e.g. after the last demo backed
    out."""
    if Release.objects.filter(state=ReleaseState.INSTALLING).exists():
        return
    old, new = _version("Microsoft 365 Apps", "2410"), _version("Microsoft 365 Apps", "2412")
    workstations = list(
        ConfigurationItem.objects.filter(identifier__startswith="ws-", status="active").order_by(
            "identifier"
        )[:20]
    )
    if old is None or new is None or len(workstations) < 20:
        return
    unit = ConfigurationItem.objects.filter(identifier="workplace").first() or ci_create(
        by=None,
        identifier="workplace",
        name="Digital workplace",
        kind=CIKind.SERVICE,
        owner="End-user computing",
        attributes={"tier": 2, "support_group": "EUC"},
    )
    UnitComponent.objects.get_or_create(unit=unit, product=new.product)
    now = timezone.now().replace(second=0, microsecond=0)
    release = services.release_create(
        by=manager,
        title=PILOT_TITLE,
        level=ReleaseLevel.DELTA,
        release_unit=unit,
        category=categories["Standard change"],
        distribution_start=now - timedelta(hours=2),
        distribution_end=now + timedelta(days=6),
        installation_start=now - timedelta(minutes=1),
        installation_end=now + timedelta(days=7),
        backout_decision_minutes=15,
        wave_size=5,
        wave_interval_minutes=1,
    )
    services.release_item_add(
        release=release, by=manager, software_version=new, replaces_version=old, restore_version=old
    )
    services.release_targets_set(release=release, cis=workstations, by=manager)
    services.release_backout_plan_set(
        release=release,
        by=manager,
        steps=["Uninstall 2412", "Reinstall 2410 from the DSL", "Check Outlook starts"],
    )
    services.release_failure_condition_add(
        release=release, by=manager, kind=FailureConditionKind.FAILURE_RATE_ABOVE, threshold=20
    )
    services.release_failure_condition_add(
        release=release, by=manager, kind=FailureConditionKind.WINDOW_ENDED_WITH_PENDING
    )
    release = _walk(release, manager, ["plan", "build", "start_tests"], reason="Pilot approved")
    _sign_off(release, colleague)
    release = _walk(release, manager, ["accept", "plan_rollout"])
    for task in release.rollout_tasks.filter(status="pending"):
        services.rollout_task_complete(task=task, by=manager)
    release = _walk(release, colleague, ["verify"])
    release = _walk(release, manager, ["distribute"])
    for target in release.targets.all():
        reports.target_report(
            target_id=target.pk,
            kind="distribution",
            status="succeeded",
            report_id=f"demo-{target.pk}",
            detail="pushed by the software distribution tool",
        )
    _walk(
        Release.objects.get(pk=release.pk),
        manager,
        ["install"],
        reason="Pilot waves of 5, one a minute",
    )
    stdout.write(
        f"Demo: {release.number} is installing on 20 workstations — start its agents with `make agents`."
    )


DEMO_SOURCE = "snow-demo"


def _seed_webhooks(stdout) -> None:
    """A ServiceNow source and three changes it sent — signed and processed like any delivery:
    an approved change that became a release in ``requested``, one still being assessed, and a
    cancelled one. Its secret is generated and not shown (rotate one in to send your own)."""
    if WebhookSource.objects.filter(name=DEMO_SOURCE).exists():
        return
    _, secret = webhooks.webhook_source_create(
        name=DEMO_SOURCE, adapter="servicenow", policy="auto_release"
    )
    signer = Webhook(secret)
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=9)
    changes = [
        ("CHG0040101", "Upgrade Payroll to 4.2.0 (year-end tax tables)", "-2"),  # scheduled
        ("CHG0040102", "Replace the VPN concentrator certificates", "-4"),  # assess
        ("CHG0040103", "Retire the old intranet search", "4"),  # canceled
    ]
    for n, (number, title, state) in enumerate(changes, start=1):
        body = json.dumps(
            {
                "result": {
                    "sys_id": f"5e7d0c11c0a8016400f00000000{n:05d}",
                    "number": number,
                    "short_description": title,
                    "state": state,
                    "type": "normal",
                    "start_date": f"{start + timedelta(days=n):%Y-%m-%d %H:%M:%S}",
                    "end_date": f"{start + timedelta(days=n, hours=4):%Y-%m-%d %H:%M:%S}",
                    "sys_mod_count": "3",
                    "sys_updated_on": f"{timezone.now():%Y-%m-%d %H:%M:%S}",
                }
            }
        )
        message_id, now = f"msg_{uuid.uuid4().hex}", timezone.now()
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(message_id, now, body),
        }
        delivery, _ = webhooks.webhook_delivery_receive(
            source_name=DEMO_SOURCE,
            headers=headers,
            content_type="application/json",
            content_length=len(body),
            read_body=body.encode,
        )
        webhooks.webhook_delivery_process(delivery_id=delivery.pk)
    stdout.write(f"Demo: webhook source {DEMO_SOURCE} with three ServiceNow changes it sent.")
