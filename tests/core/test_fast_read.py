"""``FastRead`` serializers give exactly what DRF's own ``to_representation`` gives, for every
list serializer that uses it, including missing relations and nested lists, and — for the release
list's rows read with ``values()`` — what DRF gives for the same releases as model instances."""

import pytest
from django.utils import timezone
from rest_framework import serializers

from cmdb.api.serializers import ConfigurationItemSerializer
from cmdb.selectors import ci_list
from releasemgmt.core.api.serializers import FastRead
from releases.api.serializers import ReleaseListSerializer
from releases.selectors import attach_figures, release_list, release_list_rows
from tests.factories import (
    ChangeRequestFactory,
    ConfigurationItemFactory,
    HardwareModelFactory,
    LocationFactory,
    ReleaseCategoryFactory,
    ReleaseFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def drf_own(serializer_class, rows, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(FastRead, "to_representation", serializers.Serializer.to_representation)
        return serializer_class(rows, many=True).data


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_release_rows_match_drf(monkeypatch, zone):
    with_all = ReleaseFactory(
        planned=True, owner=UserFactory(), category=ReleaseCategoryFactory(), state="installing"
    )
    older, newer = ChangeRequestFactory(), ChangeRequestFactory()
    with_all.change_requests.add(newer, older)
    ReleaseFactory()  # no owner, no category, no windows, no changes
    instances = list(release_list())
    attach_figures(instances)
    with timezone.override(zone):
        fast = ReleaseListSerializer(instances, many=True).data
        assert fast == drf_own(ReleaseListSerializer, instances, monkeypatch)
        # the API's rows: plain values, the changes and counts read in the same statement
        assert ReleaseListSerializer(list(release_list_rows()), many=True).data == fast
    changes = {len(row["change_requests"]): row["change_requests"] for row in fast}
    assert set(changes) == {0, 2}
    assert [change["number"] for change in changes[2]] == [newer.number, older.number]
    assert any(row["owner"] is None and row["installation_start"] is None for row in fast)
    assert any(row["item_count"] == 1 and row["target_count"] == 1 for row in fast)
    if zone != "UTC":
        assert all(not row["created_at"].endswith("Z") for row in fast)


def test_ci_rows_match_drf(monkeypatch):
    ConfigurationItemFactory(location=LocationFactory(), hardware_model=HardwareModelFactory())
    ConfigurationItemFactory(location=None, hardware_model=None, attributes={})
    rows = list(ci_list())
    fast = ConfigurationItemSerializer(rows, many=True).data
    assert fast == drf_own(ConfigurationItemSerializer, rows, monkeypatch)
    assert any(row["location_name"] is None for row in fast)
