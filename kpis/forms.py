"""The KPI filters, read from a query string the same way by the page, the CSV export and the
API; every problem names its parameter."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from cmdb.choices import SERVICE_KINDS, Environment
from cmdb.models import ConfigurationItem
from kpis.definitions import UTC, PeriodKind
from kpis.selectors import MAX_RANGE_DAYS, KpiFilters
from releases.choices import ReleaseLevel
from releases.models import ReleaseCategory


class KpiFilterForm(forms.Form):
    period = forms.ChoiceField(
        choices=PeriodKind.choices,
        required=False,
        help_text="day, week (ISO, Monday first) or month — all in UTC",
    )
    level = forms.ChoiceField(choices=[("", "Any level"), *ReleaseLevel.choices], required=False)
    unit = forms.ModelChoiceField(
        queryset=ConfigurationItem.objects.filter(kind__in=SERVICE_KINDS).order_by("identifier"),
        required=False,
        empty_label="Any unit",
        to_field_name="pk",
    )
    environment = forms.ChoiceField(
        choices=[("", "Any environment"), *Environment.choices], required=False
    )
    category = forms.ModelChoiceField(
        queryset=ReleaseCategory.objects.order_by("name"),
        required=False,
        empty_label="Any category",
    )

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        # `from` is a Python keyword: the fields are added by name
        self.fields["from"] = forms.DateField(
            required=False,
            input_formats=["%Y-%m-%d"],
            help_text="first day shown, YYYY-MM-DD (UTC)",
        )
        self.fields["to"] = forms.DateField(
            required=False, input_formats=["%Y-%m-%d"], help_text="last day shown, YYYY-MM-DD (UTC)"
        )
        for name in ("unit", "category"):
            self.fields[name].error_messages["invalid_choice"] = (
                f"No such {'release unit' if name == 'unit' else 'category'}: give its id."
            )

    def clean(self):
        data = super().clean()
        first = data.get("from")
        last = data.get("to") or timezone.now().astimezone(UTC).date()
        if first:
            if first > last:
                self.add_error("from", "The range must start on or before its end (to).")
            elif last - first > timedelta(days=MAX_RANGE_DAYS):
                self.add_error("from", "The range may cover at most 5 years.")
        return data

    def filters(self) -> KpiFilters:
        """The filters of a valid form (an unbound one gives the defaults)."""
        if not self.is_bound:
            return KpiFilters()
        data = self.cleaned_data
        return KpiFilters(
            period=data.get("period") or PeriodKind.MONTH,
            first=data.get("from"),
            last=data.get("to"),
            level=data.get("level") or "",
            unit=data["unit"].pk if data.get("unit") else None,
            environment=data.get("environment") or "",
            category=data["category"].pk if data.get("category") else None,
        )

    def error_dict(self) -> dict:
        return {name: list(messages) for name, messages in self.errors.items()}
