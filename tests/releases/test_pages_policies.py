"""Issue 12 on the release page: outside the plan's window the Distribute/Install dialogs and
"Install now" ask for a confirmation and a reason (or say the category refuses it); in a
four-eyes category the owner's sign-off is refused with the sentence."""

import re
from html import unescape

import pytest
from django.urls import reverse

from releases.choices import InstallationState as IS
from releases.choices import ReleaseState as S
from releases.models import TestScopeItem
from tests.factories import ReleaseCategoryFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(role_user):
    return role_user("release_manager")


def text_of(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def detail(release) -> str:
    return reverse("releases:release-detail", args=[release.pk])


def test_the_distribute_dialog_asks_for_the_confirmation_outside_the_window(client, manager):
    release = ReleaseFactory(state=S.VERIFIED, planned=True)  # the window opens tomorrow
    client.force_login(manager)
    page = client.get(detail(release))
    assert 'name="confirm_outside_window"' in page.content.decode()
    assert "now is outside its distribution window" in text_of(page)


def test_distributing_from_the_page_outside_the_window(client, manager):
    release = ReleaseFactory(state=S.VERIFIED, planned=True)
    client.force_login(manager)
    url = reverse("releases:release-transition", args=[release.pk, "distribute"])

    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 409
    assert "distribution window" in text_of(refused)
    release.refresh_from_db()
    assert release.state == S.VERIFIED

    done = client.post(url, {"confirm_outside_window": "on", "reason": "Vendor moved the date"})
    assert done.status_code == 302
    release.refresh_from_db()
    assert release.state == S.DISTRIBUTING
    page = text_of(client.get(detail(release)))
    assert "Went ahead outside the plan's window (confirmed)." in page


def test_a_refusing_category_says_so_in_the_dialog(client, manager):
    release = ReleaseFactory(
        state=S.VERIFIED, planned=True, category=ReleaseCategoryFactory(outside_window="refuse")
    )
    client.force_login(manager)
    page = client.get(detail(release))
    assert "never run outside their window" in text_of(page)
    assert 'name="confirm_outside_window"' not in page.content.decode()


def test_install_now_outside_the_window_asks_for_the_confirmation(client, manager):
    release = ReleaseFactory(state=S.INSTALLING, planned=True, installation_mode="manual")
    target = release.targets.get()
    client.force_login(manager)
    page = client.get(detail(release)).content.decode()
    assert 'name="outside_window_reason"' in page
    url = reverse("releases:target-install-now", args=[release.pk, target.pk])

    refused = client.post(url, {})
    assert refused.status_code == 409
    assert "installation window" in text_of(refused)

    done = client.post(url, {"confirm_outside_window": "on", "outside_window_reason": "Asked"})
    assert done.status_code == 302
    target.refresh_from_db()
    assert target.installation_state == IS.RUNNING


def test_the_owner_signing_off_in_a_four_eyes_category_is_told_who_may(client, manager):
    release = ReleaseFactory(
        state=S.TESTING, owner=manager, category=ReleaseCategoryFactory(four_eyes=True)
    )
    test = TestScopeItem.objects.create(release=release, kind="changed_item", title="Changed: x")
    client.force_login(manager)
    page = client.get(detail(release))
    assert "Four eyes" in text_of(page)
    # no sign-off form for the owner, but who may sign off instead
    assert f'action="{reverse("releases:test-sign-off", args=[release.pk, test.pk])}"' not in (
        page.content.decode()
    )
    assert "needs someone other than the owner" in text_of(page)
    refused = client.post(
        reverse("releases:test-sign-off", args=[release.pk, test.pk]),
        {f"test-{test.pk}-result": "passed", f"test-{test.pk}-evidence": "green"},
    )
    assert refused.status_code == 409
    assert "needs someone other than the owner" in text_of(refused)


def test_the_owners_verify_button_says_four_eyes_before_the_click(client, manager):
    release = ReleaseFactory(
        state=S.ROLLOUT_PLANNED, owner=manager, category=ReleaseCategoryFactory(four_eyes=True)
    )
    client.force_login(manager)
    page = client.get(detail(release)).content.decode()
    verify = page[page.index('data-transition="verify"') :]
    assert "needs someone other than the owner" in verify[: verify.index("</li>")]
