"""Form pieces every app shares: the renderer that makes ``core/partials/_field.html`` the field
template, and putting a service's ``DomainValidationError`` back on a form."""

from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """The project's templates (so ``templates/core/...`` is found) with one field template:
    ``{{ field.as_field_group }}`` renders the label, the widget, the errors and the help text."""

    field_template_name = "core/partials/_field.html"
