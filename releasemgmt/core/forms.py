"""Form pieces every app shares: the renderer that makes ``core/partials/_field.html`` the field
template, and putting a service's ``DomainValidationError`` back on a form."""

from django.forms.renderers import TemplatesSetting

from releasemgmt.core.exceptions import DomainError


class FormRenderer(TemplatesSetting):
    """The project's templates (so ``templates/core/...`` is found) with one field template:
    ``{{ field.as_field_group }}`` renders the label, the widget, the errors and the help text."""

    field_template_name = "core/partials/_field.html"


def add_service_errors(form, error, *, field_for=None) -> None:
    """Put a service's refusal back on ``form``: a ``DomainError`` (or its message). A string is a
    form-wide error; a ``{name: message}`` dict gives each message to the field ``field_for(name)``
    names (the name itself by default), or form-wide when the form has no such field. A nested
    dict or a list under a name (the contents that contradict the level) gives one error each."""
    message = error.message if isinstance(error, DomainError) else error
    if not isinstance(message, dict):
        form.add_error(None, str(message))
        return
    for key, value in message.items():
        name = field_for(key) if field_for is not None and key is not None else key
        field = name if name in form.fields else None
        if isinstance(value, dict):
            texts = value.values()
        elif isinstance(value, list | tuple):
            texts = value
        else:
            texts = [value]
        for text in texts:
            form.add_error(field, str(text))


class ServiceErrorsMixin:
    """``form.add_service_errors(error)``; ``SERVICE_FIELDS`` maps the names the services use to
    this form's fields (``items`` → ``software_version``…), ``service_field`` may map by rule."""

    SERVICE_FIELDS: dict[str, str] = {}

    def service_field(self, name: str) -> str:
        return self.SERVICE_FIELDS.get(name, name)

    def add_service_errors(self, error) -> None:
        add_service_errors(self, error, field_for=self.service_field)
