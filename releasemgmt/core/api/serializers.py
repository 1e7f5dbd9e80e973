import inspect
from collections.abc import Mapping
from datetime import datetime
from functools import partial

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import ManyRelatedField, PKOnlyObject, RelatedField, SlugRelatedField
from rest_framework.settings import api_settings

from releasemgmt.core.models import AuditEvent


class FastRead:
    """Mixin for serializers read in bulk (the rows of a list): the same fields, sources and
    formatting as DRF's ``to_representation``, run from a plan made once per class instead of
    DRF's generic steps for every value of every row (the readable-field generator, the generic
    attribute walk, the ``SkipField`` and primary-key-only checks). Plain sources — an attribute
    or a property, dotted or not — are read directly; related fields and ``*`` sources keep
    DRF's own ``get_attribute``. Writing and validation are DRF's, untouched.

    A row may also be a dict read with ``values()`` (no model instance built): a field reads the
    key its source names, a related one the joined column (``release_unit__identifier`` for a
    ``SlugRelatedField`` on ``release_unit``), so one serializer formats both."""

    def to_representation(self, instance):
        plan = self._read_plan()
        ret = {}
        for name, read, represent in plan:
            try:
                value = read(instance)
            except SkipField:
                continue
            ret[name] = None if value is None else represent(value)
        return ret

    def _read_plan(self):
        # Built from this instance's bound fields; kept per instance (a ListSerializer's child is
        # one instance for every row), since fields can depend on the serializer's context.
        plan = self.__dict__.get("_fast_read_plan")
        if plan is None:
            plan = self.__dict__["_fast_read_plan"] = [
                (field.field_name, _reader(field), _representer(field))
                for field in self._readable_fields
            ]
        return plan


def _reader(field):
    attrs = field.source_attrs
    if isinstance(field, SlugRelatedField) and len(attrs) == 1:
        # the related row's slug, read as DRF's representation reads it from the related object
        return _walker((*attrs, *field.slug_field.split("__")))
    if (
        isinstance(field, (RelatedField, ManyRelatedField))
        or not attrs
        or (len(attrs) > 1 and not field.allow_null)
    ):
        return partial(_drf_attribute, field)  # a missing link may mean "leave the key out"
    return _walker(tuple(attrs))


def _walker(attrs):
    return partial(_walk, attrs, "__".join(attrs))


def _representer(field):
    if isinstance(field, SlugRelatedField):
        return _same  # the reader already read the slug
    if isinstance(field, serializers.DateTimeField):
        output = getattr(field, "format", api_settings.DATETIME_FORMAT)
        zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
        if output is not None and output.lower() == ISO_8601 and zone is not None:
            # DRF looks the current time zone up for every value; it is the same for every row
            return partial(_iso_datetime, zone, field.to_representation)
    return field.to_representation


def _same(value):
    return value


def _iso_datetime(zone, represent, value):
    """DRF's ISO 8601 representation of an aware datetime in ``zone``; anything else is DRF's."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return represent(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return represent(value)


def _drf_attribute(field, instance):
    value = field.get_attribute(instance)
    return value.pk if isinstance(value, PKOnlyObject) and value.pk is None else value


def _walk(attrs, key, instance):
    """DRF's attribute walk for a nullable field: a missing link is None. A row read with
    ``values()`` holds the value under ``key``, a related column's as ``a__b``."""
    if type(instance) is dict and key in instance:
        return instance[key]
    for attr in attrs:
        if instance is None:
            return None
        try:
            instance = instance[attr] if isinstance(instance, Mapping) else getattr(instance, attr)
        except ObjectDoesNotExist:
            return None
        if inspect.ismethod(instance) or inspect.isfunction(instance):
            instance = instance()
    return instance


class AuditEventSerializer(serializers.ModelSerializer):
    object_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "reason",
        ]
        read_only_fields = fields

    def get_object_type(self, event) -> str | None:
        if event.content_type_id is None:
            return None
        return f"{event.content_type.app_label}.{event.content_type.model}"


class ActionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    full_name = serializers.CharField()
    is_service_account = serializers.BooleanField()
    time_zone = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    actions = ActionSerializer(many=True)
    authenticated_by = serializers.ChoiceField(choices=["token", "session"])
