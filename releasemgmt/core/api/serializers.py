import inspect
from collections.abc import Mapping
from functools import partial

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject, RelatedField

from releasemgmt.core.models import AuditEvent


class FastRead:
    """Mixin for serializers read in bulk (the rows of a list): the same fields, sources and
    formatting as DRF's ``to_representation``, run from a plan made once per class instead of
    DRF's generic steps for every value of every row (the readable-field generator, the generic
    attribute walk, the ``SkipField`` and primary-key-only checks). Plain sources — an attribute
    or a property, dotted or not — are read directly; related fields and ``*`` sources keep
    DRF's own ``get_attribute``. Writing and validation are DRF's, untouched."""

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
                (field.field_name, _reader(field), field.to_representation)
                for field in self._readable_fields
            ]
        return plan


def _reader(field):
    attrs = field.source_attrs
    if isinstance(field, RelatedField) or not attrs or (len(attrs) > 1 and not field.allow_null):
        return partial(_drf_attribute, field)  # a missing link may mean "leave the key out"
    return partial(_walk, tuple(attrs))


def _drf_attribute(field, instance):
    value = field.get_attribute(instance)
    return value.pk if isinstance(value, PKOnlyObject) and value.pk is None else value


def _walk(attrs, instance):
    """DRF's attribute walk for a nullable field: a missing link is None."""
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
