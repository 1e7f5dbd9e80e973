"""``FastRead`` serializers give exactly what DRF's own ``to_representation`` gives, for every
list serializer that uses it, including missing relations and nested lists."""

import pytest
from rest_framework import serializers

from cmdb.api.serializers import ConfigurationItemSerializer
from cmdb.selectors import ci_list
from releasemgmt.core.api.serializers import FastRead
from releases.api.serializers import ReleaseListSerializer
from releases.selectors import attach_figures, release_list
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


def test_release_rows_match_drf(monkeypatch):
    with_all = ReleaseFactory(
        planned=True, owner=UserFactory(), category=ReleaseCategoryFactory(), state="installing"
    )
    with_all.change_requests.add(ChangeRequestFactory(), ChangeRequestFactory())
    ReleaseFactory()  # no owner, no category, no windows, no changes
    rows = list(release_list())
    attach_figures(rows)
    fast = ReleaseListSerializer(rows, many=True).data
    assert fast == drf_own(ReleaseListSerializer, rows, monkeypatch)
    assert {len(row["change_requests"]) for row in fast} == {0, 2}
    assert any(row["owner"] is None and row["installation_start"] is None for row in fast)


def test_ci_rows_match_drf(monkeypatch):
    ConfigurationItemFactory(location=LocationFactory(), hardware_model=HardwareModelFactory())
    ConfigurationItemFactory(location=None, hardware_model=None, attributes={})
    rows = list(ci_list())
    fast = ConfigurationItemSerializer(rows, many=True).data
    assert fast == drf_own(ConfigurationItemSerializer, rows, monkeypatch)
    assert any(row["location_name"] is None for row in fast)
