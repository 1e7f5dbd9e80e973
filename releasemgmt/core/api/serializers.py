from collections.abc import Mapping
from datetime import datetime
from functools import cache, partial
from types import FunctionType, MethodType

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models.manager import BaseManager
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.fields import HiddenField, SkipField
from rest_framework.relations import (
    HyperlinkedRelatedField,
    ManyRelatedField,
    PKOnlyObject,
    PrimaryKeyRelatedField,
    RelatedField,
    SlugRelatedField,
)
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
    ``SlugRelatedField`` on ``release_unit``), so one serializer formats both.

    A serializer whose fields cannot depend on its context (DRF's own field types, nested
    ``FastRead`` serializers of the same kind, no method fields, no hook overridden) builds its
    fields once per class: DRF would build them again for every request."""

    def to_representation(self, instance):
        return _represent(self._read_plan(), instance)

    def _read_plan(self):
        # Kept per instance (a ListSerializer's child is one instance for every row): the time
        # zone a datetime is shown in is the one current when the plan is made.
        plan = self.__dict__.get("_fast_read_plan")
        if plan is None:
            zone = timezone.get_current_timezone() if settings.USE_TZ else None
            plan = self.__dict__["_fast_read_plan"] = _plan(self, zone)
        return plan


def _represent(plan, instance):
    ret = {}
    for name, read, represent in plan:
        try:
            value = read(instance)
        except SkipField:
            continue
        ret[name] = None if value is None else represent(value)
    return ret


def _represent_many(plan, data):
    # DRF's ListSerializer.to_representation, each item by the child's plan
    rows = data.all() if isinstance(data, BaseManager) else data
    return [_represent(plan, row) for row in rows]


def _plan(serializer, zone):
    fields = _fields_of_class(type(serializer))
    if fields is None:
        fields = serializer._readable_fields
    return [(field.field_name, _reader(field), _representer(field, zone)) for field in fields]


# What a serializer may override and still have fields that are the same for every instance.
_FIELD_HOOKS = frozenset(
    {"__init__", "get_fields", "get_field_names", "build_field", "fields", "to_representation"}
)


@cache
def _fields_of_class(serializer_class):
    """The readable fields of ``serializer_class``, bound once, when they cannot depend on an
    instance's context; else None (built per instance, as DRF does)."""
    for klass in serializer_class.__mro__:
        if klass.__module__.startswith("rest_framework.") or klass in (FastRead, object):
            continue
        if _FIELD_HOOKS & vars(klass).keys():
            return None
    fields = list(serializer_class()._readable_fields)
    return fields if all(map(_context_free, fields)) else None


def _context_free(field) -> bool:
    if isinstance(field, serializers.ListSerializer):
        field = field.child
    if isinstance(field, FastRead):
        return _fields_of_class(type(field)) is not None
    if isinstance(field, ManyRelatedField):
        field = field.child_relation
    return type(field).__module__.startswith("rest_framework.") and not isinstance(
        field,
        (
            serializers.BaseSerializer,
            serializers.SerializerMethodField,
            serializers.FileField,  # an absolute URL from the request in the context
            HiddenField,
            HyperlinkedRelatedField,
        ),
    )


def _reader(field):
    attrs = field.source_attrs
    if _reads_value(field):
        if isinstance(field, SlugRelatedField):
            # the related row's slug, read as DRF's representation reads it from the related row
            return _walker((*attrs, *field.slug_field.split("__")))
        return partial(_primary_key, attrs[0])
    if (
        isinstance(field, (RelatedField, ManyRelatedField))
        or not attrs
        or (len(attrs) > 1 and not field.allow_null)
    ):
        return partial(_drf_attribute, field)  # a missing link may mean "leave the key out"
    return _walker(tuple(attrs))


def _reads_value(field) -> bool:
    """A related field on one link whose reader reads the value shown (the slug, the id)."""
    if len(field.source_attrs) != 1:
        return False
    return isinstance(field, SlugRelatedField) or (
        isinstance(field, PrimaryKeyRelatedField) and field.pk_field is None
    )


def _walker(attrs):
    return partial(_walk, attrs, "__".join(attrs))


def _representer(field, zone):
    if isinstance(field, serializers.ListSerializer) and isinstance(field.child, FastRead):
        return partial(_represent_many, _plan(field.child, zone))
    if isinstance(field, FastRead):
        return partial(_represent, _plan(field, zone))
    if _reads_value(field):
        return _same  # the reader already read the slug or the id
    if isinstance(field, serializers.DateTimeField):
        output = getattr(field, "format", api_settings.DATETIME_FORMAT)
        zone = getattr(field, "timezone", zone)
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
            if type(instance) is dict or isinstance(instance, Mapping):
                instance = instance[attr]
            else:
                instance = getattr(instance, attr)
        except ObjectDoesNotExist:
            return None
        if callable(instance) and isinstance(instance, (MethodType, FunctionType)):
            instance = instance()
    return instance


def _primary_key(name, instance):
    """What DRF's ``PrimaryKeyRelatedField`` shows: the related row's id, read from the row."""
    return instance[name] if type(instance) is dict else instance.serializable_value(name)


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
