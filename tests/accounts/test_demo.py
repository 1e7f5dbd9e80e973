"""The demo accounts: one per role, two for ops (issue 12: an override needs a second ops person,
and the demo had only one, so it could not be confirmed without `admin`)."""

from io import StringIO

import pytest

from releasemgmt.accounts import demo, roles
from releasemgmt.accounts.models import User

pytestmark = pytest.mark.django_db


def test_the_demo_has_two_ops_people_who_can_sign_in(settings):
    out = StringIO()

    demo.seed(out)
    demo.seed(StringIO())  # a second run changes nothing

    ops = User.objects.filter(groups__name=roles.OPS).order_by("username")
    assert [u.username for u in ops] == ["ops", "ops-2"]
    for user in ops:
        assert user.check_password(settings.DEMO_PASSWORD)
    assert "ops-2" in out.getvalue()


def test_the_run_banner_and_readme_name_every_demo_login():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    banner = (root / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    readme = (root / "README.md").read_text().split("### What you see after `make run`")[1]
    logins = readme.split("Sign in as", 1)[1].split("\n- ", 1)[0]
    for username in ("admin", *demo.DEMO_USERS):
        assert username in banner, username
        assert f"`{username}`" in logins, username
