"""The role dashboards on the home page: each role sees its cards and no other's, in urgency
order; every count that links to a list equals that list's count; a release's blockers are
named in the words the refused transition would use; stuck installations and licences planned
releases would exhaust are found; the page costs a fixed number of queries."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cmdb.choices import ErrorKind, LicenceMetric
from cmdb.models import Discrepancy
from dsl_dhs.choices import VersionStatus
from kpis.dashboards import cards, selectors
from releasemgmt.accounts import roles
from releasemgmt.core.exceptions import DomainConflict
from releasemgmt.core.services import SYSTEM_ACTOR
from releases import choices as release_choices
from releases import models as release_models
from releases import services
from releases.choices import (
    FINAL_STATES,
    InstallationState,
    OverrideStatus,
    ReleaseLevel,
    ReleaseState,
    RolloutTaskKind,
)
from releases.models import (
    BackoutOverride,
    DeliveryAttention,
    DeliveryStatus,
    FreezeWindow,
    Release,
    ReleaseItem,
    ReleaseTarget,
    ReleaseTransition,
    RolloutTask,
    VerificationRun,
)
from releases.services.verification import run_verification
from tests.factories import (
    ChangeRequestFactory,
    ConfigurationItemFactory,
    DiscrepancyFactory,
    InstalledSoftwareFactory,
    LicenceFactory,
    ReleaseFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UnitComponentFactory,
    UserFactory,
    WebhookDeliveryFactory,
)

pytestmark = pytest.mark.django_db

S, IS = ReleaseState, InstallationState
HOME = "/"

ROLE_CARDS = {
    roles.OPS: {"backouts", "live-deployments", "halts", "health"},
    roles.RELEASE_MANAGER: {
        "my-releases",
        "stuck",
        "installations-due",
        "freeze-windows",
        "licence-shortfalls",
        "health",
    },
    roles.CHANGE_MANAGER: {"deliveries", "cancelled-changes", "health"},
    roles.CONFIGURATION_MANAGER: {
        "errors-by-age",
        "verification-failures",
        "quarantined-versions",
        "licences-low",
        "health",
    },
    roles.AUDITOR: {"overrides", "halts", "kpi-summary", "health"},
}


def card_keys(response) -> list[str]:
    return [entry["card"].key for entry in response.context["cards"]]


def card_data(response, key) -> dict:
    return next(e["data"] for e in response.context["cards"] if e["card"].key == key)


def list_count(client, url) -> int:
    """How many items the list page at ``url`` shows (all pages)."""
    response = client.get(url)
    assert response.status_code == 200, url
    context = response.context
    if "total" in context:  # the release list
        return context["total"]
    if "waiting" in context:  # the back-out queue
        return len(context["waiting"])
    return context["page"].paginator.count


def backout_waiting(**fields) -> Release:
    now = timezone.now()
    return ReleaseFactory(
        state=S.BACKOUT_REQUIRED,
        backout_required_at=now - timedelta(minutes=5),
        backout_deadline=now + timedelta(minutes=25),
        backout_condition="failure rate 30.0% is above 20.00%",
        **fields,
    )


def installing(*, minutes_since_start=10, reports_minutes_ago=(), **fields) -> Release:
    """An installing release whose targets last reported that many minutes ago (None: never)."""
    now = timezone.now()
    release = ReleaseFactory(
        state=S.INSTALLING,
        state_changed_at=now - timedelta(minutes=minutes_since_start),
        installation_start=now - timedelta(minutes=minutes_since_start),
        installation_end=now + timedelta(hours=3),
        **fields,
    )
    for ago in reports_minutes_ago:
        ReleaseTarget.objects.create(
            release=release,
            ci=ConfigurationItemFactory(),
            installation_state=IS.SUCCEEDED if ago is not None else IS.SCHEDULED,
            last_report_at=now - timedelta(minutes=ago) if ago is not None else None,
        )
    Release.objects.filter(pk=release.pk).update(count_targets=len(reports_minutes_ago))
    return release


# Who sees what


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in (HOME, "/dashboard/cards/backouts/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", sorted(ROLE_CARDS))
def test_each_role_sees_its_cards_and_no_others(client, role_user, role):
    user = role_user(role)
    client.force_login(user)
    response = client.get(HOME)
    assert response.status_code == 200
    assert set(card_keys(response)) == ROLE_CARDS[role]
    page = response.content.decode()
    for key in set(cards_by_key()) - ROLE_CARDS[role]:
        assert f'id="card-{key}"' not in page
        # …and its refresh answers 403
        assert client.get(f"/dashboard/cards/{key}/").status_code == 403
    for key in ROLE_CARDS[role] - {"health"}:
        assert f'id="card-{key}"' in page
        assert client.get(f"/dashboard/cards/{key}/").status_code == 200


def cards_by_key():
    return {card.key: card for card in cards.CARDS}


def test_several_roles_see_the_union_once_most_urgent_first(client, role_user):
    user = role_user(roles.OPS, roles.AUDITOR, roles.RELEASE_MANAGER)
    backout_waiting()
    installing(minutes_since_start=120, reports_minutes_ago=[90])  # stuck
    client.force_login(user)
    response = client.get(HOME)
    keys = card_keys(response)
    assert len(keys) == len(set(keys)), "no card twice (halts and health are shared)"
    assert set(keys) == (
        ROLE_CARDS[roles.OPS] | ROLE_CARDS[roles.AUDITOR] | ROLE_CARDS[roles.RELEASE_MANAGER]
    )
    # back-outs waiting first, then the stuck installation, then the live deployments
    assert keys.index("backouts") < keys.index("stuck") < keys.index("live-deployments")
    # cards with nothing in them come after every card that holds something
    counts = [card_data(response, key)["count"] for key in keys if key != "health"]
    assert counts == sorted(counts, key=lambda n: n == 0)


def test_a_superuser_sees_every_card(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    assert set(card_keys(client.get(HOME))) == set(cards_by_key())


def test_a_user_without_a_role_sees_the_header_and_a_note(client, user):
    client.force_login(user)
    response = client.get(HOME)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Signed in as <strong>{user.get_username()}</strong>" in page
    assert "Nothing to watch here yet." in page
    assert 'class="dash-card' not in page and 'id="health"' not in page


def test_the_header_names_the_roles_and_health_shows_for_ops(client, role_user):
    client.force_login(role_user(roles.OPS, first_name="Otto", last_name="Ops"))
    page = client.get(HOME).content.decode()
    assert "Hello, Otto Ops" in page
    assert "Ops (back-out approver)" in page
    assert 'id="health"' in page and "System health" in page


def test_an_unknown_card_is_404(client, role_user):
    client.force_login(role_user(roles.OPS))
    assert client.get("/dashboard/cards/nothing-here/").status_code == 404


def test_home_links_and_the_old_name_lead_to_the_dashboard(client, role_user):
    from django.urls import reverse

    assert reverse("core:home") == reverse("dashboards:home") == "/"
    role_user(roles.AUDITOR, username="ada")
    response = client.post("/accounts/login/", {"username": "ada", "password": "pw-for-tests"})
    assert response["Location"] == "/"


def test_live_cards_refresh_themselves(client, role_user):
    client.force_login(role_user(roles.OPS))
    page = client.get(HOME).content.decode()
    assert 'hx-get="/dashboard/cards/backouts/" hx-trigger="every 15s"' in page
    assert 'hx-get="/dashboard/cards/live-deployments/" hx-trigger="every 15s"' in page
    assert 'hx-get="/partials/health/"' in page


# Counts equal the lists they link to


def test_ops_counts_equal_the_linked_lists(client, role_user):
    client.force_login(role_user(roles.OPS))
    for _ in range(3):
        backout_waiting()
    ReleaseFactory(state=S.BACKING_OUT)  # in the queue, but decided already
    ReleaseFactory(state=S.DISTRIBUTING)
    for _ in range(12):  # more than a card lists
        installing(reports_minutes_ago=[5])
    ReleaseFactory(state=S.INSTALLED)
    response = client.get(HOME)
    for key, expected in (("backouts", 3), ("live-deployments", 13)):
        data = card_data(response, key)
        assert data["count"] == expected == list_count(client, data["url"]), key
    assert len(card_data(response, "live-deployments")["releases"]) == selectors.LIMIT


def test_ops_approve_the_back_out_from_the_dashboard(client, role_user):
    release = backout_waiting()
    client.force_login(role_user(roles.OPS))
    page = client.get(HOME).content.decode()
    action = f'action="/releases/{release.pk}/backout/approve/"'
    assert action in page
    assert 'data-deadline="' in page  # the live countdown
    response = client.post(f"/releases/{release.pk}/backout/approve/")
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.state in (S.BACKING_OUT, S.BACKED_OUT)


def test_an_auditor_sees_the_approve_button_nowhere(client, role_user):
    release = backout_waiting()
    client.force_login(role_user(roles.AUDITOR))
    assert f"/releases/{release.pk}/backout/approve/" not in client.get(HOME).content.decode()


def test_my_releases_count_equals_the_release_list(client, role_user):
    me = role_user(roles.RELEASE_MANAGER, username="rita")
    other = UserFactory()
    for state in (S.REQUESTED, S.PLANNED, S.TESTING, S.INSTALLING, S.BACKOUT_REQUIRED):
        ReleaseFactory(state=state, owner=me)
    for state in FINAL_STATES:
        ReleaseFactory(state=state, owner=me)
    ReleaseFactory(state=S.PLANNED, owner=other)
    client.force_login(me)
    data = card_data(client.get(HOME), "my-releases")
    assert data["count"] == 5 == list_count(client, data["url"])


def test_change_manager_counts_equal_the_delivery_lists(client, role_user):
    for attention, status, n in (
        (DeliveryAttention.TRIAGE, DeliveryStatus.PROCESSED, 2),
        (DeliveryAttention.FLAGGED, DeliveryStatus.PROCESSED, 3),
        (DeliveryAttention.NONE, DeliveryStatus.FAILED, 4),
        (DeliveryAttention.NONE, DeliveryStatus.PROCESSED, 5),
    ):
        WebhookDeliveryFactory.create_batch(n, attention=attention, status=status)
    client.force_login(role_user(roles.CHANGE_MANAGER))
    data = card_data(client.get(HOME), "deliveries")
    figures = {g["key"]: g["count"] for g in data["groups"]}
    assert figures == {"triage": 2, "flagged": 3, "failed": 4}
    for group in data["groups"]:
        assert group["count"] == list_count(client, group["url"]), group["key"]


def test_configuration_manager_counts_equal_the_linked_lists(client, role_user):
    now = timezone.now()
    # open errors of both categories at every age, and resolved ones that do not count
    for days, kind in (
        (0.1, ErrorKind.VERSION_MISMATCH),
        (0.5, ErrorKind.SEATS_EXCEEDED),
        (2, ErrorKind.MISSING_TARGET),
        (3, ErrorKind.MISSING_TARGET),
        (10, ErrorKind.LICENCE_EXPIRED),
        (45, ErrorKind.VERSION_MISMATCH),
        (400, ErrorKind.SEATS_EXCEEDED),
    ):
        DiscrepancyFactory(kind=kind, detected_at=now - timedelta(days=days))
    DiscrepancyFactory(detected_at=now - timedelta(days=2), resolved_at=now)
    # licences: one low, one over-used, one comfortable, one site licence
    for seats, used in ((10, 8), (3, 4), (10, 1)):
        licence = LicenceFactory(seats=seats, low_seat_threshold=2)
        for _ in range(used):
            InstalledSoftwareFactory(licence=licence)
    LicenceFactory(metric=LicenceMetric.SITE, seats=None)
    for _ in range(2):
        ReleaseFactory(state=S.VERIFICATION_FAILED)
    client.force_login(role_user(roles.CONFIGURATION_MANAGER))
    response = client.get(HOME)

    errors = card_data(response, "errors-by-age")
    assert errors["count"] == 7
    cells = {
        (row["label"], cell["category"]): cell["count"]
        for row in errors["rows"]
        for cell in row["cells"]
    }
    assert cells == {
        ("< 1 day", "cmdb"): 1,
        ("< 1 day", "licence"): 1,
        ("1–7 days", "cmdb"): 2,
        ("1–7 days", "licence"): 0,
        ("7–30 days", "cmdb"): 0,
        ("7–30 days", "licence"): 1,
        ("> 30 days", "cmdb"): 1,
        ("> 30 days", "licence"): 1,
    }
    for row in errors["rows"]:
        for cell in row["cells"]:
            assert cell["count"] == list_count(client, cell["url"]), (row["label"], cell)
    for category in errors["categories"]:
        assert category["count"] == list_count(client, category["url"])

    low = card_data(response, "licences-low")
    assert low["count"] == 2 == list_count(client, low["url"])
    failures = card_data(response, "verification-failures")
    assert failures["count"] == 2 == list_count(client, failures["url"])


def test_every_count_that_links_to_a_list_matches_it(client):
    """Whatever data there is, a card's own list link (``url``) shows its count."""
    now = timezone.now()
    admin = UserFactory(is_superuser=True, is_staff=True)
    backout_waiting(owner=admin)
    installing(reports_minutes_ago=[3, None], owner=admin)
    ReleaseFactory(state=S.VERIFICATION_FAILED, owner=admin)
    DiscrepancyFactory(detected_at=now - timedelta(days=8))
    client.force_login(admin)
    response = client.get(HOME)
    linked = [e for e in response.context["cards"] if e["data"].get("url")]
    assert {e["card"].key for e in linked} >= {
        "backouts",
        "live-deployments",
        "my-releases",
        "verification-failures",
        "licences-low",
    }
    for entry in linked:
        assert entry["data"]["count"] == list_count(client, entry["data"]["url"]), entry["card"]


# What blocks a release


def requested_gaps(owner) -> Release:
    """A requested Package release with no plan at all."""
    return ReleaseFactory(state=S.REQUESTED, owner=owner, level=ReleaseLevel.PACKAGE)


def test_blockers_are_the_words_of_the_refused_transition(role_user):
    me = role_user(roles.RELEASE_MANAGER)
    now = timezone.now()
    # requested: a Full release missing a component and its plan
    full = ReleaseFactory(state=S.REQUESTED, owner=me, level=ReleaseLevel.FULL)
    UnitComponentFactory(unit=full.release_unit)
    carried = UnitComponentFactory(unit=full.release_unit)
    ReleaseItem.objects.create(
        release=full, software_version=SoftwareVersionFactory(product=carried.product)
    )
    package = requested_gaps(me)
    complete = ReleaseFactory(state=S.REQUESTED, owner=me, planned=True)
    # planned: an item in quarantine
    planned = ReleaseFactory(state=S.PLANNED, owner=me, planned=True)
    ReleaseItem.objects.create(
        release=planned, software_version=SoftwareVersionFactory(status=VersionStatus.QUARANTINED)
    )
    # testing: one test passed, one pending, one failed; and one with no test scope
    testing = ReleaseFactory(state=S.TESTING, owner=me)
    for title, result in (
        ("Login", release_choices.TestResult.PASSED),
        ("Payroll", release_choices.TestResult.PENDING),
    ):
        release_models.TestScopeItem.objects.create(
            release=testing, kind=release_choices.TestKind.CHANGED_ITEM, title=title, result=result
        )
    release_models.TestScopeItem.objects.create(
        release=testing,
        kind=release_choices.TestKind.BACKOUT_REHEARSAL,
        title="Back-out",
        result="failed",
    )
    untested = ReleaseFactory(state=S.TESTING, owner=me)
    # roll-out planned: the training is not done
    rollout = ReleaseFactory(state=S.ROLLOUT_PLANNED, owner=me)
    RolloutTask.objects.create(
        release=rollout, kind=RolloutTaskKind.COMMUNICATION, description="Mail", status="done"
    )
    RolloutTask.objects.create(
        release=rollout, kind=RolloutTaskKind.TRAINING, description="Train the desk"
    )

    found = {r.pk: r.next_step for r in selectors.my_releases(user=me, now=now)["releases"]}
    for release, name in (
        (full, "plan"),
        (package, "plan"),
        (complete, "plan"),
        (planned, "build"),
        (testing, "accept"),
        (untested, "accept"),
        (rollout, "verify"),
    ):
        fresh = Release.objects.get(pk=release.pk)
        expected = services.condition_problems(fresh, name)
        assert found[release.pk]["transition"] == name
        assert found[release.pk]["blockers"] == expected, release.state
    assert found[complete.pk]["blockers"] == []
    assert any("is missing" in b for b in found[full.pk]["blockers"])
    assert "Payroll: pending" in found[testing.pk]["blockers"]


def test_my_releases_card_names_what_blocks_each_release(client, role_user):
    me = role_user(roles.RELEASE_MANAGER)
    release = requested_gaps(me)
    distributed = ReleaseFactory(state=S.DISTRIBUTED, owner=me, planned=True)
    FreezeWindow.objects.create(
        start=distributed.installation_start - timedelta(hours=1),
        end=distributed.installation_end,
        reason="Quarter-end freeze",
    )
    failed = ReleaseFactory(state=S.VERIFICATION_FAILED, owner=me)
    VerificationRun.objects.create(release=failed, checks_total=5, checks_failed=2)
    client.force_login(me)
    page = client.get(HOME).content.decode()
    card = page[page.index('id="card-my-releases"') :]
    assert f"What blocks {release.number}" in card
    assert "Add at least one target CI." in card
    assert "A Package release bundles several change requests: link at least two." in card
    assert "The installation window overlaps a freeze: Quarter-end freeze" in card
    assert "Verification found 2 problems" in card
    # the freeze the card names is the one ``install`` refuses
    with pytest.raises(DomainConflict) as refused:
        services.release_transition(release=distributed, name="install", by=me)
    assert "Quarter-end freeze" in refused.value.message


# Stuck installations


@pytest.mark.parametrize(
    ("started", "reports", "stuck"),
    [
        (120, [61], True),  # the last report is older than the limit
        (120, [61, 59], False),  # one target reported within it
        (120, [None], True),  # nobody reported since installation started, long ago
        (30, [None], False),  # …but it started only half an hour ago
        (120, [], True),
    ],
)
def test_stuck_installations(started, reports, stuck):
    release = installing(minutes_since_start=started, reports_minutes_ago=reports)
    ReleaseFactory(state=S.INSTALLED, state_changed_at=timezone.now() - timedelta(days=1))
    data = selectors.stuck_releases(now=timezone.now())
    assert [r.pk for r in data["releases"]] == ([release.pk] if stuck else [])
    assert data["count"] == int(stuck)
    live = selectors.live_deployments(now=timezone.now())["releases"]
    assert [r.is_stuck for r in live] == [stuck]


def test_the_stuck_limit_is_a_setting(settings):
    release = installing(minutes_since_start=120, reports_minutes_ago=[40])
    assert settings.DASHBOARD_STUCK_MINUTES == 60
    assert selectors.stuck_releases(now=timezone.now())["count"] == 0
    settings.DASHBOARD_STUCK_MINUTES = 30
    assert [r.pk for r in selectors.stuck_releases(now=timezone.now())["releases"]] == [release.pk]


def test_the_stuck_setting_reads_the_environment(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from releasemgmt.settings import env

    monkeypatch.setenv("DASHBOARD_STUCK_MINUTES", "15")
    assert env.integer("DASHBOARD_STUCK_MINUTES", 60, minimum=1) == 15
    monkeypatch.setenv("DASHBOARD_STUCK_MINUTES", "0")
    with pytest.raises(ImproperlyConfigured, match="DASHBOARD_STUCK_MINUTES"):
        env.integer("DASHBOARD_STUCK_MINUTES", 60, minimum=1)
    source = (settings.BASE_DIR / "releasemgmt" / "settings" / "base.py").read_text()
    assert 'env.integer("DASHBOARD_STUCK_MINUTES", 60, minimum=1)' in source


def test_the_release_manager_sees_the_stuck_release(client, role_user):
    release = installing(minutes_since_start=200, reports_minutes_ago=[90, 95])
    client.force_login(role_user(roles.RELEASE_MANAGER))
    response = client.get(HOME)
    assert [r.pk for r in card_data(response, "stuck")["releases"]] == [release.pk]
    assert "quiet for 90 min" in response.content.decode()


# Licences a planned release would exhaust


@pytest.fixture
def licensed_estate():
    """A licence of 5 seats, 3 of them held by CIs running 1.0; 1.1 is the next version."""
    product = SoftwareProductFactory(licensed=True, name="Agent")
    old = SoftwareVersionFactory(product=product, version="1.0")
    new = SoftwareVersionFactory(product=product, version="1.1")
    licence = LicenceFactory(licence_product=product.licence_product, seats=5)
    holders = [ConfigurationItemFactory() for _ in range(3)]
    for ci in holders:
        InstalledSoftwareFactory(ci=ci, version=old, licence=licence)
    return product, new, licence, holders


def release_of(version, state, cis) -> Release:
    release = ReleaseFactory(state=state)
    ReleaseItem.objects.create(release=release, software_version=version)
    ReleaseTarget.objects.bulk_create([ReleaseTarget(release=release, ci=ci) for ci in cis])
    return release


def test_a_planned_release_needing_more_seats_than_are_free(licensed_estate):
    product, new, licence, holders = licensed_estate
    # 3 holders upgrade (no new seat) and 3 new CIs need seats: 2 are free
    release = release_of(new, S.BUILT, holders + [ConfigurationItemFactory() for _ in range(3)])
    # requested (not planned yet) and installing (seats taken already) releases do not count
    release_of(new, S.REQUESTED, [ConfigurationItemFactory() for _ in range(9)])
    release_of(new, S.INSTALLING, [ConfigurationItemFactory() for _ in range(9)])
    data = selectors.licence_shortfalls(now=timezone.now())
    assert data["count"] == 1
    (shortfall,) = data["products"]
    assert shortfall["licence_product"] == product.licence_product
    assert (shortfall["free"], shortfall["needed"]) == (2, 3)
    assert [(n["release"], n["needed"], n["alone"]) for n in shortfall["releases"]] == [
        (release, 3, True)
    ]
    # verification agrees: the same release fails on seats
    run_verification(release, by=None)
    error = Discrepancy.objects.get(reference=release.number, kind=ErrorKind.SEATS_EXCEEDED)
    assert error.found == "2 free"


def test_seats_enough_for_each_but_not_for_all(licensed_estate, client, role_user):
    product, new, licence, holders = licensed_estate
    first = release_of(new, S.PLANNED, [ConfigurationItemFactory() for _ in range(2)])
    second = release_of(new, S.VERIFIED, [ConfigurationItemFactory() for _ in range(1)])
    (shortfall,) = selectors.licence_shortfalls(now=timezone.now())["products"]
    assert (shortfall["free"], shortfall["needed"]) == (2, 3)
    assert {(n["release"], n["alone"]) for n in shortfall["releases"]} == {
        (first, False),
        (second, False),
    }
    client.force_login(role_user(roles.RELEASE_MANAGER))
    page = client.get(HOME).content.decode()
    assert f"{product.licence_product.name}</strong></a>" in page
    assert "2 free, 3 needed" in page


def test_no_shortfall_when_the_seats_suffice_or_the_licence_is_site_wide(licensed_estate):
    product, new, licence, holders = licensed_estate
    release_of(new, S.PLANNED, holders + [ConfigurationItemFactory() for _ in range(2)])
    assert selectors.licence_shortfalls(now=timezone.now())["count"] == 0
    release_of(new, S.ACCEPTED, [ConfigurationItemFactory() for _ in range(5)])
    assert selectors.licence_shortfalls(now=timezone.now())["count"] == 1
    LicenceFactory(licence_product=product.licence_product, metric=LicenceMetric.SITE, seats=None)
    assert selectors.licence_shortfalls(now=timezone.now())["count"] == 0


# The other cards' contents


def test_release_manager_cards(client, role_user):
    me = role_user(roles.RELEASE_MANAGER)
    now = timezone.now()
    due = ReleaseFactory(
        state=S.DISTRIBUTED,
        installation_start=now + timedelta(hours=20),
        installation_end=now + timedelta(hours=22),
    )
    early = ReleaseFactory(
        state=S.TESTING,
        installation_start=now + timedelta(hours=30),
        installation_end=now + timedelta(hours=32),
    )
    ReleaseFactory(  # too late for the card
        state=S.VERIFIED,
        installation_start=now + timedelta(hours=60),
        installation_end=now + timedelta(hours=62),
    )
    FreezeWindow.objects.create(
        start=now + timedelta(days=3), end=now + timedelta(days=4), reason="Black Friday"
    )
    FreezeWindow.objects.create(
        start=now + timedelta(days=30), end=now + timedelta(days=31), reason="Far away"
    )
    client.force_login(me)
    response = client.get(HOME)
    due_data = card_data(response, "installations-due")
    assert [(r.pk, r.is_ready) for r in due_data["releases"]] == [(due.pk, True), (early.pk, False)]
    freeze = card_data(response, "freeze-windows")
    assert [w.reason for w in freeze["windows"]] == ["Black Friday"]
    assert "not ready" in response.content.decode()


def test_change_manager_sees_releases_of_cancelled_changes(client, role_user):
    cancelled = ChangeRequestFactory(state="Canceled")
    also = ChangeRequestFactory(state="cancelled")
    going_on = ReleaseFactory(state=S.PLANNED)
    going_on.change_requests.add(cancelled, also, ChangeRequestFactory())
    stopped = ReleaseFactory(state=S.CANCELLED)
    stopped.change_requests.add(cancelled)
    closed = ReleaseFactory(state=S.CLOSED)  # history: nothing left to stop
    closed.change_requests.add(cancelled)
    fine = ReleaseFactory(state=S.PLANNED)
    fine.change_requests.add(ChangeRequestFactory(state="scheduled"))
    client.force_login(role_user(roles.CHANGE_MANAGER))
    data = card_data(client.get(HOME), "cancelled-changes")
    assert data["count"] == 1
    (row,) = data["releases"]
    assert row == going_on
    assert {c.number for c in row.cancelled} == {cancelled.number, also.number}


def test_configuration_manager_sees_quarantine_and_failed_runs(client, role_user):
    version = SoftwareVersionFactory(status=VersionStatus.QUARANTINED)
    SoftwareVersionFactory()  # authorised
    release = ReleaseFactory(state=S.PLANNED)
    ReleaseItem.objects.create(release=release, software_version=version)
    failed = ReleaseFactory(state=S.VERIFICATION_FAILED)
    VerificationRun.objects.create(release=failed, checks_total=8, checks_failed=3)
    VerificationRun.objects.create(release=failed, checks_total=8, checks_failed=1, passed=False)
    client.force_login(role_user(roles.CONFIGURATION_MANAGER))
    response = client.get(HOME)
    quarantined = card_data(response, "quarantined-versions")
    assert [(v.pk, v.open_releases) for v in quarantined["versions"]] == [(version.pk, 1)]
    failures = card_data(response, "verification-failures")
    assert [r.checks_failed for r in failures["releases"]] == [1]  # the latest run
    assert len(failures["runs"]) == 2


def test_auditor_sees_overrides_and_automatic_backouts(client, role_user):
    now = timezone.now()
    asker, confirmer = UserFactory(), UserFactory()
    release = ReleaseFactory(state=S.INSTALLING)
    BackoutOverride.objects.create(
        release=release,
        reason="Lab hosts only",
        requested_by=asker,
        status=OverrideStatus.CONFIRMED,
        confirmed_by=confirmer,
        confirmed_at=now,
    )
    BackoutOverride.objects.create(release=release, reason="Again", requested_by=asker)
    BackoutOverride.objects.create(  # too old for the card
        release=release,
        reason="Long ago",
        requested_by=asker,
        status=OverrideStatus.WITHDRAWN,
        requested_at=now - timedelta(days=40),
    )
    halted = ReleaseFactory(
        state=S.BACKING_OUT,
        backout_started_automatically=True,
        backout_decided_at=now - timedelta(days=1),
    )
    ReleaseFactory(  # decided automatically, but too long ago
        state=S.BACKED_OUT,
        backout_started_automatically=True,
        backout_decided_at=now - timedelta(days=9),
    )
    for name, by_name, ago in (
        ("require_backout", SYSTEM_ACTOR, 2),
        ("approve_backout", SYSTEM_ACTOR, 1),
        ("approve_backout", "otto", 1),  # a person decided: not automatic
        ("require_backout", SYSTEM_ACTOR, 10),  # too old
    ):
        ReleaseTransition.objects.create(
            release=halted,
            name=name,
            source=S.INSTALLING,
            target=S.BACKOUT_REQUIRED,
            by_name=by_name,
            at=now - timedelta(days=ago),
        )
    client.force_login(role_user(roles.AUDITOR))
    response = client.get(HOME)
    overrides = card_data(response, "overrides")
    assert (overrides["requested"], overrides["confirmed"], overrides["withdrawn"]) == (1, 1, 0)
    assert [o.reason for o in overrides["overrides"]] == ["Again", "Lab hosts only"]
    assert overrides["count"] == 2 == list_count(client, overrides["url"])
    halts = card_data(response, "halts")
    assert (halts["halts"], halts["automatic"]) == (1, 1)
    assert list_count(client, halts["automatic_url"]) == 1
    assert "automatic back-out" in response.content.decode()


def test_a_card_can_be_added_for_a_role(client, role_user):
    extra = cards.Card(
        "kpi-summary-test",
        "KPI summary",
        frozenset({roles.AUDITOR}),
        100,
        "kpis/dashboards/cards/halts.html",
        lambda *, user, now: {"count": 0, "halts": 0, "automatic": 0, "events": [], "days": 7},
    )
    cards.register(extra)
    try:
        client.force_login(role_user(roles.AUDITOR))
        assert "kpi-summary-test" in card_keys(client.get(HOME))
    finally:
        cards.CARDS.remove(extra)


# Query counts


def populate(n: int, owner) -> None:
    """``n`` rows of everything every card reads."""
    now = timezone.now()
    unit = ConfigurationItemFactory(service=True)
    for i in range(n):
        backout_waiting(owner=owner)
        installing(minutes_since_start=200, reports_minutes_ago=[90, None], owner=owner)
        r = ReleaseFactory(
            state=S.REQUESTED, owner=owner, level=ReleaseLevel.FULL, release_unit=unit
        )
        UnitComponentFactory(unit=unit)
        ReleaseItem.objects.create(release=r, software_version=SoftwareVersionFactory())
        planned = ReleaseFactory(state=S.PLANNED, owner=owner)
        ReleaseItem.objects.create(
            release=planned,
            software_version=SoftwareVersionFactory(status=VersionStatus.QUARANTINED),
        )
        testing = ReleaseFactory(state=S.TESTING, owner=owner)
        release_models.TestScopeItem.objects.create(
            release=testing, kind=release_choices.TestKind.CHANGED_ITEM, title=f"t{i}"
        )
        rollout = ReleaseFactory(state=S.ROLLOUT_PLANNED, owner=owner)
        RolloutTask.objects.create(release=rollout, kind=RolloutTaskKind.TRAINING, description="x")
        distributed = ReleaseFactory(state=S.DISTRIBUTED, owner=owner, planned=True)
        FreezeWindow.objects.create(
            start=distributed.installation_start, end=distributed.installation_end, reason=f"f{i}"
        )
        failed = ReleaseFactory(state=S.VERIFICATION_FAILED, owner=owner)
        VerificationRun.objects.create(release=failed, checks_total=3, checks_failed=1)
        failed.change_requests.add(ChangeRequestFactory(state="Canceled"))
        BackoutOverride.objects.create(release=failed, reason="r", requested_by=UserFactory())
        ReleaseTransition.objects.create(
            release=failed,
            name="require_backout",
            source="installing",
            target="x",
            by_name="system",
        )
        DiscrepancyFactory(detected_at=now - timedelta(days=i))
        licence = LicenceFactory(seats=1, low_seat_threshold=1)
        InstalledSoftwareFactory(licence=licence)
        product = SoftwareProductFactory(licence_product=licence.licence_product)
        release_of(SoftwareVersionFactory(product=product), S.BUILT, [ConfigurationItemFactory()])
        WebhookDeliveryFactory(attention=DeliveryAttention.TRIAGE)
        WebhookDeliveryFactory(status=DeliveryStatus.FAILED)


def page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(HOME)
    assert response.status_code == 200
    return len(queries)


def test_the_page_costs_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    admin = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(admin)
    populate(2, admin)
    few = page_queries(client)
    populate(12, admin)  # more than any card lists
    with django_assert_max_num_queries(few):
        response = client.get(HOME)
    assert all(card_data(response, key)["count"] for key in ("backouts", "stuck", "overrides"))
    assert len(card_data(response, "my-releases")["releases"]) == selectors.MY_RELEASES_LIMIT
    assert few <= 60, f"{few} queries for the whole dashboard"


@pytest.mark.parametrize("key", sorted(cards_by_key()))
def test_each_card_costs_a_fixed_number_of_queries(client, key):
    admin = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(admin)
    url = f"/dashboard/cards/{key}/"
    populate(1, admin)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    populate(4, admin)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) <= len(few), [q["sql"][:120] for q in many.captured_queries]


def test_the_settings_default_is_documented():
    readme = (settings.BASE_DIR / "README.md").read_text()
    example = (settings.BASE_DIR / ".env.example").read_text()
    assert "`DASHBOARD_STUCK_MINUTES` | `60`" in readme
    assert "# DASHBOARD_STUCK_MINUTES=60" in example


def test_install_freezes_follow_the_services_rule(role_user):
    from releases.services import freezes

    me = role_user(roles.RELEASE_MANAGER)
    now = timezone.now()
    releases = [ReleaseFactory(state=S.DISTRIBUTED, owner=me, planned=True) for _ in range(3)]
    first, second, third = releases
    start, end = first.installation_start, first.installation_end
    ReleaseTarget.objects.filter(release=second).update(
        ci=ConfigurationItemFactory(environment="staging")
    )
    for scope, fields in (
        ("release_unit", {"release_unit": first.release_unit}),
        ("environment", {"environment": "staging"}),
        ("environment", {"environment": "test"}),
    ):
        FreezeWindow.objects.create(
            start=start + timedelta(hours=1), end=end, reason=scope, scope=scope, **fields
        )
    FreezeWindow.objects.create(
        start=now - timedelta(days=2), end=now - timedelta(days=1), reason="past"
    )
    found = {
        r.pk: r.next_step["blockers"] for r in selectors.my_releases(user=me, now=now)["releases"]
    }
    for release in releases:
        expected = freezes.freezes_overlapping(
            max(now, release.installation_start), release.installation_end, release=release
        )
        assert bool(found[release.pk]) == bool(expected), release
        for window in expected:
            assert window.reason in found[release.pk][0]
    assert found[third.pk] == []
    assert found[first.pk] and found[second.pk]
