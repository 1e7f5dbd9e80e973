"""The Django admin of the CMDB and the DSL/DHS goes neither around the services nor around the
audit log: what it may edit is saved with an audit event naming the person; records the services
own (installed software, errors, artefact checks) are shown only."""

import pytest
from django.urls import reverse

from releasemgmt.core.models import AuditEvent
from tests.factories import (
    ConfigurationItemFactory,
    DiscrepancyFactory,
    InstalledSoftwareFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(client):
    user = UserFactory(superuser=True)
    client.force_login(user)
    return user


def test_a_ci_edited_in_the_admin_is_audited(client, admin_user):
    ci = ConfigurationItemFactory(name="Old name")
    page = client.get(reverse("admin:cmdb_configurationitem_change", args=[ci.pk]))
    data = {
        name: value
        for name, value in page.context["adminform"].form.initial.items()
        if value is not None and not isinstance(value, list | dict)
    }
    data |= {"name": "New name", "attributes": '{"os": "Debian 12"}'}
    formset = page.context["inline_admin_formsets"][0].formset  # the relationships inline
    data |= {
        f"{formset.prefix}-TOTAL_FORMS": "0",
        f"{formset.prefix}-INITIAL_FORMS": "0",
    }

    response = client.post(reverse("admin:cmdb_configurationitem_change", args=[ci.pk]), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    ci.refresh_from_db()
    assert ci.name == "New name"
    event = AuditEvent.objects.get(action="cmdb.configurationitem.update")
    assert event.actor == admin_user
    assert ci.history.latest().history_user == admin_user


@pytest.mark.parametrize(
    ("model", "factory"),
    [("installedsoftware", InstalledSoftwareFactory), ("discrepancy", DiscrepancyFactory)],
)
def test_service_owned_cmdb_records_are_shown_never_changed(client, admin_user, model, factory):
    record = factory()
    change = reverse(f"admin:cmdb_{model}_change", args=[record.pk])
    assert client.get(change).status_code == 200  # shown (read-only)
    assert client.post(change, {}).status_code == 403
    assert client.get(reverse(f"admin:cmdb_{model}_add")).status_code == 403
    assert client.get(reverse(f"admin:cmdb_{model}_delete", args=[record.pk])).status_code == 403


def test_a_dhs_location_added_in_the_admin_is_audited(client, admin_user):
    response = client.post(
        reverse("admin:dsl_dhs_location_add"), {"code": "DC9", "name": "Data centre 9"}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="dsl_dhs.location.create", actor=admin_user).exists()
