from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from drf_spectacular.plumbing import get_view_model
from rest_framework import serializers
from rest_framework.schemas.utils import get_pk_description

DIGITS = r"^\d+$"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with what the project's conventions make true everywhere:

    - path ids the routers match as digits (``\\d+``, see ``Router``) are documented as the
      integers they are, the lookup id with its model's wording;
    - a list answers 400 for an invalid filter value and 404 for a page past the end (DRF's
      pagination), so both are documented on every list;
    - an endpoint under a rate limit answers 429 past it, documented wherever one applies;
    - a text field that may be blank documents ``""`` beside its format (``uri``, ``email``):
      an empty URL is not a valid ``uri``, yet it is what such a field holds when unset;
    - a read-only relation over a nullable foreign key (``owner``, ``resolved_by``) is nullable:
      DRF answers ``null`` for it."""

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        model = get_view_model(self.view, emit_warnings=False)
        lookup = getattr(self.view, "lookup_url_kwarg", None) or getattr(
            self.view, "lookup_field", "pk"
        )
        for parameter in parameters:
            if parameter["schema"] != {"type": "string", "pattern": DIGITS}:
                continue
            parameter["schema"] = {"type": "integer"}
            if model is not None and parameter["name"] in (lookup, "id"):
                parameter.setdefault("description", get_pk_description(model, model._meta.pk))
        return parameters

    def _get_response_bodies(self, direction="response"):
        from releasemgmt.core.api.views import BAD_REQUEST, NOT_FOUND, THROTTLED

        responses = super()._get_response_bodies(direction)
        extra = {}
        if self.method == "GET" and self._is_list_view():
            extra["400"] = BAD_REQUEST
            if self._get_paginator() is not None:
                extra["404"] = NOT_FOUND
        if self.view.get_throttles():
            extra["429"] = THROTTLED
        for code, response in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, None, direction)
        return dict(sorted(responses.items()))

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            isinstance(field, serializers.CharField)
            and getattr(field, "allow_blank", False)
            and "format" in schema
        ):
            schema = {**schema, "anyOf": [{"format": schema.pop("format")}, {"maxLength": 0}]}
        if (
            isinstance(field, serializers.RelatedField)
            and field.read_only
            and not schema.get("nullable")
            and _nullable_foreign_key(field)
        ):
            schema = {**schema, "nullable": True}
        return schema


def _nullable_foreign_key(field) -> bool:
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or "." in field.source:
        return False
    try:
        model_field = model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return False
    return bool(model_field.is_relation and model_field.null)
