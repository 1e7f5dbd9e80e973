from drf_spectacular import openapi
from drf_spectacular.plumbing import get_view_model
from rest_framework.schemas.utils import get_pk_description

DIGITS = r"^\d+$"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with the path ids the routers match as digits (``\\d+``, see
    ``Router``) documented as the integers they are, the lookup id with its model's wording."""

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
