"""``FastRead`` serializers give exactly what DRF's own ``to_representation`` gives, for every
list serializer that uses it, including missing relations and nested lists, and — for the release
list's rows read with ``values()`` — what DRF gives for the same releases as model instances."""

import pytest
from django.utils import timezone
from rest_framework import serializers

from cmdb.api.serializers import ConfigurationItemSerializer
from cmdb.models import ConfigurationItem
from cmdb.selectors import ci_list
from releasemgmt.core.api.serializers import FastRead, _fields_of_class
from releases.api.serializers import ReleaseListSerializer
from releases.models import Release
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


class _UnitBrief(FastRead, serializers.ModelSerializer):
    class Meta:
        model = ConfigurationItem
        fields = ["id", "identifier", "location", "created_at"]


class _Links(FastRead, serializers.ModelSerializer):
    """Related fields on one link and on two, and a nested serializer."""

    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    unit_location = serializers.SlugRelatedField(
        source="release_unit.location", slug_field="code", read_only=True
    )
    unit_location_id = serializers.PrimaryKeyRelatedField(
        source="release_unit.location", read_only=True
    )
    release_unit = _UnitBrief(read_only=True)

    class Meta:
        model = Release
        fields = ["id", "owner", "unit_location", "unit_location_id", "release_unit"]


class _AsksContext(FastRead, serializers.ModelSerializer):
    asked_by = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = ["id", "asked_by"]

    def get_asked_by(self, release) -> str:
        return self.context["who"]


def test_related_fields_on_two_links_and_nested_rows_match_drf(monkeypatch):
    located = ConfigurationItemFactory(location=LocationFactory())
    ReleaseFactory(owner=UserFactory(), release_unit=located)
    ReleaseFactory(owner=None, release_unit=ConfigurationItemFactory(location=None))
    rows = list(Release.objects.select_related("release_unit__location"))
    with timezone.override("Asia/Kolkata"):
        fast = _Links(rows, many=True).data
        assert fast == drf_own(_Links, rows, monkeypatch)
    assert {row["unit_location"] for row in fast} == {None, located.location.code}


def test_fields_that_read_the_context_are_built_per_serializer():
    ReleaseFactory()
    rows = list(Release.objects.all())
    assert _fields_of_class(_Links) is not None  # shared: DRF's own fields, nested alike
    assert _fields_of_class(_AsksContext) is None
    assert _AsksContext(rows, many=True, context={"who": "a"}).data[0]["asked_by"] == "a"
    assert _AsksContext(rows, many=True, context={"who": "b"}).data[0]["asked_by"] == "b"
