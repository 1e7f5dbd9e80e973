"""Creating a release and editing its plan through the pages: the forms, the services' validation
messages next to the fields, the user's time zone for windows, and the frozen plan (409)."""

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cmdb.choices import Environment
from cmdb.selectors import cis_by_identifiers
from releasemgmt.core.exceptions import DomainValidationError
from releases import services
from releases.choices import FailureConditionKind, Outcome, ReleaseState
from releases.models import Release, ReleaseItem
from tests.factories import (
    ChangeRequestFactory,
    ConfigurationItemFactory,
    HardwareModelFactory,
    RelationshipFactory,
    ReleaseCategoryFactory,
    ReleaseFactory,
    SoftwareVersionFactory,
    UnitComponentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

S = ReleaseState


@pytest.fixture
def manager(role_user):
    return role_user("release_manager", username="rita", time_zone="Europe/Berlin")


def text_of(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def plan_url(release, name="release-plan", *extra):
    return reverse(f"releases:{name}", args=[release.pk, *extra])


def test_create_edit_and_plan_a_release_through_the_pages(client, manager):
    # given a unit, a category, two change requests, an authorised version and two target CIs
    unit = ConfigurationItemFactory(service=True, identifier="billing")
    category = ReleaseCategoryFactory(name="Standard change")
    changes = [ChangeRequestFactory(number=f"CHG00500{i}") for i in (1, 2)]
    version = SoftwareVersionFactory(version="3.6.0")
    ConfigurationItemFactory(identifier="app-01")
    ConfigurationItemFactory(identifier="app-02")
    client.force_login(manager)

    # when the release is created
    response = client.post(
        reverse("releases:release-create"),
        {
            "title": "Billing 3.6.0",
            "description": "SEPA instant payments",
            "level": "delta",
            "category": category.pk,
            "release_unit": unit.pk,
            "trigger": "change_request",
            "trigger_reference": "CHG005001",
            "project_key": "PRJ-7",
            "project_url": "https://projects.example.com/PRJ-7",
            "change_requests": [changes[0].pk],
        },
    )
    release = Release.objects.get(title="Billing 3.6.0")
    assert response.status_code == 302 and response["Location"] == plan_url(release)
    assert release.number.startswith("REL-") and release.state == S.REQUESTED
    assert release.owner == manager and release.created_by == manager
    assert list(release.change_requests.all()) == [changes[0]]

    # and its details are edited
    response = client.post(
        reverse("releases:release-edit", args=[release.pk]),
        {
            "title": "Billing 3.6.0 (SEPA)",
            "level": "delta",
            "category": category.pk,
            "release_unit": unit.pk,
            "trigger": "change_request",
            "trigger_reference": "CHG005001",
            "owner": manager.pk,
            "change_requests": [c.pk for c in changes],
        },
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.title == "Billing 3.6.0 (SEPA)" and release.change_requests.count() == 2

    # and the plan is filled section by section
    steps = [
        (
            plan_url(release, "schedule-set"),
            {
                "distribution_start": "2026-07-01T08:00",
                "distribution_end": "2026-07-01T20:00",
                "installation_start": "2026-07-02T06:00",
                "installation_end": "2026-07-02T10:00",
                "backout_decision_minutes": "45",
            },
            "#schedule",
        ),
        (
            plan_url(release, "item-add"),
            {
                "kind": "software",
                "sw-software_version": version.pk,
                "sw-change_request": changes[1].pk,
            },
            "#contents",
        ),
        (plan_url(release, "targets-set"), {"identifiers": "APP-01, app-02\n"}, "#targets"),
        (
            plan_url(release, "backout-set"),
            {"steps": "Stop the service\n\nReinstall 3.5.0\nRun the smoke tests"},
            "#backout",
        ),
        (
            plan_url(release, "condition-add"),
            {"fc-kind": "failure_rate_above", "fc-threshold": "10", "fc-description": "Canary"},
            "#conditions",
        ),
    ]
    for url, data, anchor in steps:
        response = client.post(url, data)
        assert response.status_code == 302, (url, text_of(response)[:2000])
        assert response["Location"] == plan_url(release) + anchor

    # then the plan is complete and stored as planned, windows read in the user's zone (UTC+2)
    release.refresh_from_db()
    assert release.plan_problems() == []
    assert release.distribution_start == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    assert release.installation_end == datetime(2026, 7, 2, 8, 0, tzinfo=UTC)
    assert release.backout_decision_minutes == 45
    item = release.items.get()
    assert (item.software_version, item.change_request) == (version, changes[1])
    assert sorted(t.ci.identifier for t in release.targets.all()) == ["app-01", "app-02"]
    assert [s.description for s in release.backout_steps.all()] == [
        "Stop the service",
        "Reinstall 3.5.0",
        "Run the smoke tests",
    ]
    condition = release.failure_conditions.get()
    assert (condition.kind, condition.threshold, condition.description) == (
        FailureConditionKind.FAILURE_RATE_ABOVE,
        10,
        "Canary",
    )
    page = client.get(plan_url(release))
    assert "The plan is complete." in text_of(page)
    # the form shows the stored window back in the user's time zone, as ISO text
    assert 'value="2026-07-01 08:00"' in page.content.decode()

    # and planning it from the release page works
    response = client.post(
        reverse("releases:release-transition", args=[release.pk, "plan"]), {"reason": "CAB ok"}
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.state == S.PLANNED


def test_create_form_errors_are_shown_next_to_the_fields(client, manager):
    workstation = ConfigurationItemFactory(workstation=True)
    client.force_login(manager)
    response = client.post(
        reverse("releases:release-create"),
        {"title": "", "level": "delta", "release_unit": workstation.pk, "trigger": "manual"},
    )
    assert response.status_code == 400
    text = text_of(response)
    assert "This field is required." in text
    assert "Select a valid choice." in text  # only services and applications are offered
    assert not Release.objects.exists()
    page = client.get(reverse("releases:release-create"))
    assert workstation.identifier not in page.content.decode()


def test_a_delta_item_unchanged_since_the_baseline_is_refused_by_name(client, manager):
    unit = ConfigurationItemFactory(service=True, identifier="billing")
    baseline = SoftwareVersionFactory(version="3.5.0")
    closed = ReleaseFactory(release_unit=unit, state=S.CLOSED, outcome=Outcome.COMPLETED)
    ReleaseItem.objects.create(release=closed, kind="software", software_version=baseline)
    release = ReleaseFactory(release_unit=unit)
    client.force_login(manager)
    response = client.post(
        plan_url(release, "item-add"), {"kind": "software", "sw-software_version": baseline.pk}
    )
    assert response.status_code == 400
    text = text_of(response)
    assert (
        f"{baseline} is unchanged since the last release of billing; a Delta release carries "
        "only changed items." in text
    )
    # next to the version field, not only at the top
    field = re.search(
        r'<div data-field="sw-software_version">(.*?)</div>', response.content.decode(), re.S
    )
    assert "is unchanged since the last release" in field.group(1)
    assert not release.items.exists()


def test_only_authorised_versions_of_the_units_components_are_offered(client, manager):
    unit = ConfigurationItemFactory(service=True)
    component = UnitComponentFactory(unit=unit)
    offered = SoftwareVersionFactory(product=component.product, version="2.0")
    draft = SoftwareVersionFactory(product=component.product, version="2.1", status="draft")
    elsewhere = SoftwareVersionFactory(version="9.9")
    release = ReleaseFactory(release_unit=unit)
    client.force_login(manager)
    html = client.get(plan_url(release)).content.decode()
    assert f'<option value="{offered.pk}">' in html
    assert f'<option value="{draft.pk}">' not in html
    assert f'<option value="{elsewhere.pk}">' not in html
    response = client.post(
        plan_url(release, "item-add"), {"kind": "software", "sw-software_version": draft.pk}
    )
    assert response.status_code == 400


def test_hardware_items_and_removing_items_and_conditions(client, manager):
    release = ReleaseFactory(planned=True)
    model = HardwareModelFactory(name="PowerEdge R760")
    client.force_login(manager)
    response = client.post(
        plan_url(release, "item-add"),
        {"kind": "hardware", "hw-hardware_model": model.pk, "hw-quantity": "2"},
    )
    assert response.status_code == 302
    hardware = release.items.get(kind="hardware")
    assert hardware.quantity == 2
    response = client.post(
        plan_url(release, "item-add"),
        {"kind": "hardware", "hw-hardware_model": model.pk, "hw-quantity": "0"},
    )
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in text_of(response)
    assert client.post(plan_url(release, "item-remove", hardware.pk)).status_code == 302
    assert not release.items.filter(kind="hardware").exists()
    condition = release.failure_conditions.get()
    assert client.post(plan_url(release, "condition-remove", condition.pk)).status_code == 302
    assert not release.failure_conditions.exists()


def test_plan_validation_messages(client, manager):
    release = ReleaseFactory()
    ConfigurationItemFactory(identifier="old-box", retired=True)
    client.force_login(manager)
    cases = [
        (
            "targets-set",
            {"identifiers": "nosuch-01 nosuch-02"},
            "line 1: no CI 'nosuch-01' line 1: no CI 'nosuch-02'",
        ),
        ("targets-set", {"identifiers": "old-box"}, "line 1: 'old-box' is retired"),
        ("backout-set", {"steps": "   \n  "}, "This field is required."),
        (
            "condition-add",
            {"fc-kind": "failure_rate_above"},
            "This condition needs a threshold.",
        ),
        (
            "condition-add",
            {"fc-kind": "failure_rate_above", "fc-threshold": "150"},
            "A failure rate threshold is a percentage from 0 to 99.99.",
        ),
        (
            "condition-add",
            {"fc-kind": "health_signal_failed"},
            'Name the health signal: {"signal": "…"}.',
        ),
        (
            "schedule-set",
            {
                "distribution_start": "2026-07-01T10:00",
                "distribution_end": "2026-07-01T09:00",
                "backout_decision_minutes": "30",
            },
            "The distribution window must end after it starts.",
        ),
    ]
    for name, data, message in cases:
        response = client.post(plan_url(release, name), data)
        assert response.status_code == 400, name
        assert message in text_of(response), (name, message)
    assert not release.targets.exists() and not release.failure_conditions.exists()
    response = client.post(
        plan_url(release, "condition-add"),
        {"fc-kind": "health_signal_failed", "fc-signal": "billing-synthetic-check"},
    )
    assert response.status_code == 302
    assert release.failure_conditions.get().parameters == {"signal": "billing-synthetic-check"}


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("schedule-set", {"backout_decision_minutes": "10"}),
        ("item-add", {"kind": "software"}),
        ("targets-set", {"identifiers": "whatever"}),
        ("backout-set", {"steps": "Undo"}),
        ("condition-add", {"fc-kind": "window_ended_with_pending"}),
    ],
)
def test_a_frozen_plan_answers_409_with_the_message(client, manager, name, data):
    release = ReleaseFactory(planned=True, state=S.BUILT)
    client.force_login(manager)
    response = client.post(plan_url(release, name), data)
    assert response.status_code == 409
    assert f"The plan of {release.number} is frozen (built); replan it to change it." in text_of(
        response
    )
    assert release.backout_steps.get().description == "Reinstall the previous version"


def test_a_frozen_plan_hides_the_edit_links_and_refuses_edits(client, manager):
    release = ReleaseFactory(planned=True, state=S.TESTING)
    item = release.items.get()
    condition = release.failure_conditions.get()
    client.force_login(manager)
    html = client.get(reverse("releases:release-detail", args=[release.pk])).content.decode()
    assert "Edit plan" not in html and "Edit details" not in html
    assert "Frozen: changes only through replan" in html
    # a GET of an edit page goes back to the release, saying why
    for url in (plan_url(release), reverse("releases:release-edit", args=[release.pk])):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == reverse(
            "releases:release-detail", args=[release.pk]
        )
        assert "is frozen (testing)" in text_of(response)
    for url in (
        reverse("releases:release-edit", args=[release.pk]),
        plan_url(release, "item-remove", item.pk),
        plan_url(release, "condition-remove", condition.pk),
    ):
        response = client.post(url, {"title": "Changed"})
        assert response.status_code == 409, url
        assert "replan it to change it" in text_of(response)
    release.refresh_from_db()
    assert release.title != "Changed" and release.items.exists()
    assert release.failure_conditions.exists()


def test_a_cancelled_change_is_not_offered_and_not_accepted(client, manager):
    unit = ConfigurationItemFactory(service=True, identifier="billing")
    cancelled = ChangeRequestFactory(number="CHG0077001", state="Canceled")
    ChangeRequestFactory(number="CHG0077002", state="scheduled")
    client.force_login(manager)

    page = client.get(reverse("releases:release-create")).content.decode()
    assert "CHG0077002" in page and "CHG0077001" not in page

    with pytest.raises(DomainValidationError) as refused:  # the rule is the service's
        services.release_create(
            by=manager, title="Late", level="delta", release_unit=unit, change_requests=[cancelled]
        )
    assert "CHG0077001 was cancelled" in refused.value.message["change_requests"]
    assert not Release.objects.exists()

    # a release already linked to it keeps it on its edit form
    release = ReleaseFactory(release_unit=unit)
    release.change_requests.add(cancelled)
    edit = client.get(reverse("releases:release-edit", args=[release.pk])).content.decode()
    assert "CHG0077001" in edit


# Issue 12, "Plan editor": no silent loss, a target picker, ISO windows in the user's zone.

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def billing():
    """billing runs on bill-prod-01..03 (production); a test server, a retired one and web
    servers besides."""
    unit = ConfigurationItemFactory(service=True, identifier="billing", name="Billing service")
    for n in (1, 2, 3):
        RelationshipFactory(
            source=unit,
            target=ConfigurationItemFactory(
                identifier=f"bill-prod-0{n}", name=f"Billing server {n}"
            ),
        )
    ConfigurationItemFactory(
        identifier="bill-test-01", name="Billing test server", environment=Environment.TEST
    )
    ConfigurationItemFactory(identifier="bill-prod-00", name="Old billing server", retired=True)
    for n in (1, 2):
        ConfigurationItemFactory(identifier=f"web-prod-0{n}", name=f"Web server {n}")
    return unit


def test_saving_one_section_keeps_the_other_sections_stored_values(client, manager):
    # given a complete plan with waves
    release = ReleaseFactory(planned=True, wave_size=5, wave_interval_minutes=20)
    before = Release.objects.get(pk=release.pk)
    target = release.targets.get().ci
    client.force_login(manager)

    # when only the targets are posted, then only the back-out steps, then only the windows
    ConfigurationItemFactory(identifier="app-09")
    posts = [
        ("targets-set", {"identifiers": f"{target.identifier}\napp-09"}),
        ("backout-set", {"steps": "Stop\nReinstall"}),
        (
            "schedule-set",
            {
                "distribution_start": "2026-07-01 08:00",
                "distribution_end": "2026-07-01 20:00",
                "installation_start": "2026-07-02 06:00",
                "installation_end": "2026-07-02 10:00",
                "backout_decision_minutes": "30",
            },
        ),
    ]
    for name, data in posts:
        assert client.post(plan_url(release, name), data).status_code == 302, name

    # then each kept what the others stored
    release.refresh_from_db()
    assert sorted(t.ci.identifier for t in release.targets.all()) == sorted(
        [target.identifier, "app-09"]
    )
    assert [s.description for s in release.backout_steps.all()] == ["Stop", "Reinstall"]
    assert (release.wave_size, release.wave_interval_minutes) == (5, 20)
    assert release.items.count() == 1 and release.failure_conditions.count() == 1
    assert release.distribution_method == before.distribution_method


def test_with_htmx_a_section_is_drawn_alone_with_the_plans_status(client, manager):
    release = ReleaseFactory()
    ConfigurationItemFactory(identifier="app-01")
    client.force_login(manager)

    # a saved section comes back alone, with its message, and the status box out of band
    response = client.post(plan_url(release, "targets-set"), {"identifiers": "app-01"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<article") == 2 and 'id="targets"' in html
    assert '<article class="plan-problems" id="plan-status" hx-swap-oob="true">' in html
    assert 'id="schedule"' not in html and 'id="backout"' not in html
    assert "Targets saved." in text_of(response) and "Targets (1)" in text_of(response)
    assert "Add at least one target CI." not in text_of(response)
    assert "Targets saved." not in text_of(client.get(plan_url(release)))  # not queued for later

    # a refused section comes back alone with its errors (400), marked unsaved
    response = client.post(plan_url(release, "backout-set"), {"steps": " "}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="backout"' in html and 'id="targets"' not in html
    assert "data-plan-form data-unsaved" in html and "Not saved" in text_of(response)

    # removing an item draws the contents again
    version = SoftwareVersionFactory()
    item = ReleaseItem.objects.create(release=release, kind="software", software_version=version)
    response = client.post(plan_url(release, "item-remove", item.pk), **HTMX)
    assert response.status_code == 200 and 'id="contents"' in response.content.decode()
    assert "removed." in text_of(response) and not release.items.exists()


def test_the_plan_page_marks_every_section_form_for_the_unsaved_changes_warning(client, manager):
    release = ReleaseFactory()
    client.force_login(manager)
    html = client.get(plan_url(release)).content.decode()
    # schedule, software, hardware, targets, back-out plan, failure condition
    assert html.count("data-plan-form") == 6
    assert "js/releases-plan.js" in html
    for section in ("schedule", "contents", "targets", "backout", "conditions"):
        assert f'<article id="{section}" class="plan-section" hx-target="this"' in html


def test_a_frozen_plan_sends_an_htmx_client_to_the_release_page(client, manager):
    release = ReleaseFactory(planned=True, state=S.BUILT)
    client.force_login(manager)
    response = client.post(plan_url(release, "backout-set"), {"steps": "Undo"}, **HTMX)
    assert response.status_code == 409
    assert response["HX-Redirect"] == reverse("releases:release-detail", args=[release.pk])
    page = client.get(response["HX-Redirect"])
    assert "is frozen (built); replan it to change it." in text_of(page)
    assert release.backout_steps.get().description == "Reinstall the previous version"


def test_a_pasted_list_with_one_bad_line_names_the_line_and_saves_nothing(client, manager, billing):
    release = ReleaseFactory(release_unit=billing)
    ConfigurationItemFactory(identifier="kept-01")
    services.release_targets_set(
        release=release, cis=cis_by_identifiers(["kept-01"]).values(), by=manager
    )
    client.force_login(manager)
    pasted = "bill-prod-01\nBILL-PROD-02, bill-prod-03\n\nbil-prod-09\nbill-prod-00\n"

    for extra in ({}, HTMX):
        response = client.post(plan_url(release, "targets-set"), {"identifiers": pasted}, **extra)
        assert response.status_code == 400
        text = text_of(response)
        assert "line 4: no CI 'bil-prod-09'" in text
        assert "line 5: 'bill-prod-00' is retired" in text
        assert "line 1" not in text and "line 2" not in text
        assert pasted.strip() in unescape(response.content.decode())  # what was typed stays
        assert [t.ci.identifier for t in release.targets.all()] == ["kept-01"]

    # the fixed list is saved once per CI, whatever the case or separator
    fixed = pasted.replace("bil-prod-09", "").replace("bill-prod-00", "bill-prod-01")
    response = client.post(plan_url(release, "targets-set"), {"identifiers": fixed})
    assert response.status_code == 302
    assert sorted(t.ci.identifier for t in release.targets.all()) == [
        "bill-prod-01",
        "bill-prod-02",
        "bill-prod-03",
    ]


def test_the_picker_suggests_the_units_servers_and_searches_cis(client, manager, billing):
    release = ReleaseFactory(release_unit=billing)
    client.force_login(manager)
    url = plan_url(release, "target-search")

    def offered(response) -> list[str]:
        return re.findall(r'data-identifier="([^"]+)"', response.content.decode())

    # the plan page starts in the environment the unit runs in, its servers first
    page = client.get(plan_url(release))
    assert '<option value="production" selected>' in page.content.decode()
    assert offered(page)[:3] == ["bill-prod-01", "bill-prod-02", "bill-prod-03"]
    assert "runs billing" in text_of(page)

    # suggestions: the unit's servers, then the environment's CIs; no service, none retired
    response = client.get(url, {"environment": "production"})
    assert response.status_code == 200
    assert offered(response) == [
        "bill-prod-01",
        "bill-prod-02",
        "bill-prod-03",
        "web-prod-01",
        "web-prod-02",
    ]
    assert offered(client.get(url, {"environment": "test"})) == ["bill-test-01"]

    # a search by identifier or name, any case, in every environment or one
    assert offered(client.get(url, {"q": "BILL"})) == [
        "bill-prod-01",
        "bill-prod-02",
        "bill-prod-03",
        "bill-test-01",
    ]
    assert offered(client.get(url, {"q": "web server 2"})) == ["web-prod-02"]
    assert offered(client.get(url, {"q": "bill", "environment": "test"})) == ["bill-test-01"]
    response = client.get(url, {"q": "nothing-like-it", "environment": "test"})
    assert offered(response) == []
    assert "No CI matches “nothing-like-it” in Test; try every environment." in text_of(response)
    assert client.get(url, {"environment": "moon"}).status_code == 200  # read as every one


def test_the_picker_search_needs_the_cmdb_read_permission(client, billing):
    release = ReleaseFactory(release_unit=billing)
    client.force_login(UserFactory())
    assert client.get(plan_url(release, "target-search"), {"q": "bill"}).status_code == 403
    assert client.post(plan_url(release, "target-search")).status_code in (403, 405)


def test_the_picker_search_costs_a_fixed_number_of_queries(client, manager, billing):
    release = ReleaseFactory(release_unit=billing)
    client.force_login(manager)
    url = plan_url(release, "target-search")
    client.get(url)  # the session is read once

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url, {"q": "srv"}).status_code == 200
            assert client.get(url, {"environment": "production"}).status_code == 200
        return len(captured)

    ConfigurationItemFactory.create_batch(3)
    few = queries()
    ConfigurationItemFactory.create_batch(40)
    many = queries()
    # each: the session, the user, the release, the CIs; the session saved (in a savepoint)
    assert few == many <= 2 * 7
    response = client.get(url, {"q": "srv"})
    assert response.content.decode().count("data-identifier=") == 12
    assert "the first 12: type more to narrow" in text_of(response)


def test_windows_are_iso_text_read_and_shown_in_the_users_zone(client, role_user):
    # given a user in New York (UTC-5 in January, UTC-4 in July)
    user = role_user("release_manager", time_zone="America/New_York")
    release = ReleaseFactory()
    client.force_login(user)
    html = client.get(plan_url(release)).content.decode()
    assert "YYYY-MM-DD HH:MM in America/New_York (your time zone)." in html
    assert 'type="datetime-local"' not in html

    # when windows are posted in ISO form (a space or a T between date and time)
    response = client.post(
        plan_url(release, "schedule-set"),
        {
            "distribution_start": "2027-01-15 08:00",
            "distribution_end": "2027-01-15T20:00",
            "installation_start": "2027-07-01 06:30",
            "installation_end": "2027-07-01 09:00:00",
            "backout_decision_minutes": "30",
        },
    )
    assert response.status_code == 302

    # then they are stored in UTC and shown back in ISO form, in New York time
    release.refresh_from_db()
    assert release.distribution_start == datetime(2027, 1, 15, 13, 0, tzinfo=UTC)
    assert release.distribution_end == datetime(2027, 1, 16, 1, 0, tzinfo=UTC)
    assert release.installation_start == datetime(2027, 7, 1, 10, 30, tzinfo=UTC)
    html = client.get(plan_url(release)).content.decode()
    for name, shown in (
        ("distribution_start", "2027-01-15 08:00"),
        ("distribution_end", "2027-01-15 20:00"),
        ("installation_start", "2027-07-01 06:30"),
        ("installation_end", "2027-07-01 09:00"),
    ):
        assert f'name="{name}" value="{shown}"' in html, name

    # a date in a browser's locale form is refused, saying the form wanted
    response = client.post(
        plan_url(release, "schedule-set"),
        {"distribution_start": "01/15/2027 8:00 AM", "backout_decision_minutes": "30"},
    )
    assert response.status_code == 400
    assert "Enter the date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-01 08:00." in text_of(
        response
    )
    # and so is a time the clocks skip (14 March 2027, 02:30 in New York), without a 500
    response = client.post(
        plan_url(release, "schedule-set"),
        {"distribution_start": "2027-03-14 02:30", "backout_decision_minutes": "30"},
    )
    assert response.status_code == 400
    assert "couldn’t be interpreted in time zone America/New_York" in text_of(response)
    release.refresh_from_db()
    assert release.distribution_start == datetime(2027, 1, 15, 13, 0, tzinfo=UTC)
