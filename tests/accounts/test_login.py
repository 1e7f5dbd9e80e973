import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def test_login_and_home_show_roles(client, role_user):
    user = role_user("release_manager", username="rita", first_name="Rita", last_name="R")
    response = client.post(LOGIN, {"username": "rita", "password": "pw-for-tests"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hello, Rita R" in page
    assert "Release manager" in page
    assert "System health" in page
    assert response.context["user"] == user


def test_wrong_password_shows_a_form_error(client):
    UserFactory(username="olga")
    response = client.post(LOGIN, {"username": "olga", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_repeated_failures_lock_the_account_out(client):
    UserFactory(username="carl")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "carl", "password": "wrong"})
    # even the right password is refused while locked
    response = client.post(LOGIN, {"username": "carl", "password": "pw-for-tests"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "Wait 15 minutes and try again" in response.content.decode()  # words, not "PT15M"
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_and_source(client):
    UserFactory(username="victim")
    UserFactory(username="bystander")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "victim", "password": "wrong"})
    response = client.post(LOGIN, {"username": "bystander", "password": "pw-for-tests"})
    assert response.status_code == 302


def test_sessions_expire_after_idle_time(client, user):
    client.force_login(user)
    client.get("/")
    assert client.session.get_expiry_age() == settings.SESSION_IDLE_MINUTES * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST  # each request pushes the expiry: idle, not absolute


def test_logout_is_post_only_and_ends_the_session(client, user):
    client.force_login(user)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_time_zone_preference_changes_display(client, user):
    client.force_login(user)
    response = client.post(
        reverse("accounts:account"), {"save_preferences": "1", "time_zone": "Europe/Paris"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"
    assert "Times shown in Europe/Paris" in client.get("/").content.decode()
    bad = client.post(
        reverse("accounts:account"), {"save_preferences": "1", "time_zone": "Mars/Olympus"}
    )
    assert bad.status_code == 400
