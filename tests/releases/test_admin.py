"""The Django admin of the releases domain cannot go around the state machine, the services or the
audit log (issue 11): releases, their targets and change requests are shown only; evidence is
never edited; reference data is edited with an audit event."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from releasemgmt.core.models import AuditEvent
from releases.choices import ReleaseState as S
from releases.models import FreezeWindow, ReleaseCategory
from tests.factories import (
    ChangeRequestFactory,
    ReleaseCategoryFactory,
    ReleaseFactory,
    UserFactory,
    WebhookSourceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(client):
    user = UserFactory(superuser=True)
    client.force_login(user)
    return user


def test_the_release_change_page_shows_the_state_read_only(client, admin_user):
    release = ReleaseFactory(state=S.INSTALLING)

    page = client.get(reverse("admin:releases_release_change", args=[release.pk]))

    assert page.status_code == 200
    form_fields = page.context["adminform"].form.fields
    assert "state" not in form_fields
    assert "count_installed" not in form_fields and "outcome" not in form_fields
    assert "Installing" in page.content.decode()


def test_a_post_to_the_release_admin_cannot_change_the_state(client, admin_user):
    release = ReleaseFactory(state=S.INSTALLING)

    response = client.post(
        reverse("admin:releases_release_change", args=[release.pk]),
        {"state": S.CLOSED, "title": "Renamed", "outcome": "completed", "count_installed": "9"},
    )

    assert response.status_code == 403
    release.refresh_from_db()
    assert (release.state, release.title, release.outcome) == (S.INSTALLING, release.title, "")
    assert release.count_installed == 0
    assert not release.transitions.exists()
    assert client.get(reverse("admin:releases_release_add")).status_code == 403
    assert (
        client.get(reverse("admin:releases_release_delete", args=[release.pk])).status_code == 403
    )


def test_change_requests_and_callbacks_are_shown_not_edited(client, admin_user):
    change = ChangeRequestFactory()
    page = client.get(reverse("admin:releases_changerequest_change", args=[change.pk]))
    assert page.status_code == 200
    assert "state" not in page.context["adminform"].form.fields
    assert client.get(reverse("admin:releases_changerequest_add")).status_code == 403
    assert client.get(reverse("admin:releases_callbackdelivery_changelist")).status_code == 200


def test_reference_data_edited_in_the_admin_is_audited(client, admin_user):
    category = ReleaseCategoryFactory()
    response = client.post(
        reverse("admin:releases_releasecategory_change", args=[category.pk]),
        {
            "name": "Emergency fix",
            "description": "",
            "waives_training": "on",
            "outside_window": "confirm",
        },
    )
    assert response.status_code == 302
    category.refresh_from_db()
    assert category.waives_training
    event = AuditEvent.objects.get(action="releases.releasecategory.update")
    assert (event.actor, event.after["waives_training"]) == (admin_user, True)

    start = timezone.now() + timedelta(days=1)
    response = client.post(
        reverse("admin:releases_freezewindow_add"),
        {
            "start_0": start.strftime("%Y-%m-%d"),
            "start_1": start.strftime("%H:%M:%S"),
            "end_0": (start + timedelta(days=1)).strftime("%Y-%m-%d"),
            "end_1": start.strftime("%H:%M:%S"),
            "reason": "Year-end freeze",
            "scope": "everything",
        },
    )
    assert response.status_code == 302
    window = FreezeWindow.objects.get()
    assert window.created_by == admin_user
    assert AuditEvent.objects.filter(
        action="releases.freezewindow.create", actor=admin_user
    ).exists()

    client.post(
        reverse("admin:releases_releasecategory_delete", args=[category.pk]), {"post": "yes"}
    )
    assert not ReleaseCategory.objects.exists()
    assert AuditEvent.objects.filter(action="releases.releasecategory.delete").exists()


def test_a_webhook_source_edited_in_the_admin_is_audited_and_its_secrets_are_not(
    client, admin_user
):
    source = WebhookSourceFactory()
    page = client.get(reverse("admin:releases_webhooksource_change", args=[source.pk]))
    form_fields = page.context["adminform"].form.fields
    assert "callback_authorization" not in form_fields and "created_by" not in form_fields
    secrets = page.context["inline_admin_formsets"][0].formset
    assert all("active" not in form.fields for form in secrets.forms)

    secret_count = source.secrets.count()
    response = client.post(
        reverse("admin:releases_webhooksource_change", args=[source.pk]),
        {
            "name": source.name,
            "adapter": source.adapter,
            "policy": source.policy,
            "time_zone": "UTC",
            "approved_statuses": "Approved",
            "cancelled_statuses": "Cancelled",
            "secrets-TOTAL_FORMS": str(secret_count),
            "secrets-INITIAL_FORMS": str(secret_count),
            **{f"secrets-{i}-id": str(s.pk) for i, s in enumerate(source.secrets.order_by("pk"))},
            **{f"secrets-{i}-source": str(source.pk) for i in range(secret_count)},
        },
    )
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.active is False
    event = AuditEvent.objects.get(action="releases.webhooksource.update")
    assert (event.actor, event.after["active"]) == (admin_user, False)
