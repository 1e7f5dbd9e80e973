"""CMDB reads shared by the release forms, the release API, the agents' API and the importers."""

import pytest

from cmdb import selectors
from tests.factories import ConfigurationItemFactory

pytestmark = pytest.mark.django_db


def test_cis_by_identifiers_matches_without_regard_to_case_in_chunks(
    monkeypatch, django_assert_num_queries
):
    web = ConfigurationItemFactory(identifier="Web-01")
    db = ConfigurationItemFactory(identifier="db-01")
    monkeypatch.setattr(selectors, "IDENTIFIER_CHUNK", 2)

    with django_assert_num_queries(2):  # three identifiers, two a query
        found = selectors.cis_by_identifiers(["WEB-01", "db-01", "nowhere", "", "web-01"])

    assert found == {"web-01": web, "db-01": db}
