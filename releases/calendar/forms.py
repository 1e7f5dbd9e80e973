"""The calendar's GET parameters: the view, the date and the filters. A bad value is an error a
person can read (the page answers 400), never a 500."""

from datetime import date

from django import forms

from cmdb.choices import SERVICE_KINDS, Environment
from cmdb.models import ConfigurationItem
from releases.calendar.grid import MONTH, VIEWS
from releases.choices import ReleaseState

# The month arithmetic needs room on both sides; no release is planned outside these years.
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.identifier


class CalendarForm(forms.Form):
    view = forms.ChoiceField(
        choices=list(VIEWS.items()),
        required=False,
        error_messages={
            "invalid_choice": "“%(value)s” is not a calendar view: choose month or week."
        },
    )
    date = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Give the date as YYYY-MM-DD, e.g. 2026-12-01."},
    )
    unit = UnitChoiceField(
        queryset=ConfigurationItem.objects.filter(kind__in=SERVICE_KINDS).order_by("identifier"),
        required=False,
        label="Release unit",
        empty_label="Any unit",
        error_messages={"invalid_choice": "No release unit has this id."},
    )
    environment = forms.ChoiceField(
        choices=[("", "Any"), *Environment.choices],
        required=False,
        error_messages={"invalid_choice": "“%(value)s” is not an environment."},
    )
    state = forms.MultipleChoiceField(
        choices=ReleaseState.choices,
        required=False,
        error_messages={"invalid_choice": "“%(value)s” is not a release state."},
    )

    def clean_view(self):
        return self.cleaned_data.get("view") or MONTH

    def clean_date(self):
        value = self.cleaned_data.get("date")
        if value is not None and not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(f"Choose a date between {EARLIEST.year} and {LATEST.year}.")
        return value

    def error_lines(self) -> list[str]:
        """Every problem as ``Field: message``."""
        lines = []
        for name, errors in self.errors.items():
            field = self.fields.get(name)
            label = (field.label or name.capitalize()) if field else ""
            lines.extend(f"{label}: {error}" if label else error for error in errors)
        return lines
