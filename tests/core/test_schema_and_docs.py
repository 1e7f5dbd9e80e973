from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from releasemgmt.accounts.roles import matrix_markdown

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_warning_free():
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    assert '"bearerAuth"' in out.getvalue()


@pytest.mark.django_db
def test_schema_and_docs_are_served_to_signed_in_users(client, user):
    client.force_login(user)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "cdn" not in docs.content.decode().lower()


def test_readme_permission_matrix_matches_the_roles():
    readme = (ROOT / "README.md").read_text()
    assert matrix_markdown() in readme, (
        "Run `python manage.py roles_matrix` and paste it into README.md"
    )


@pytest.mark.django_db
def test_no_model_changes_without_migrations():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
