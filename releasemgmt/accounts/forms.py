from django import forms

from releasemgmt.accounts.models import TIME_ZONE_CHOICES
from releasemgmt.accounts.services import MAX_TOKEN_DAYS


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What will use it, e.g. “ServiceNow” or “agent on web-01”."
    )
    expires_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_TOKEN_DAYS,
        label="Expires after (days)",
        help_text="Leave empty for a token that lasts until revoked.",
    )


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        choices=TIME_ZONE_CHOICES, help_text="Times are shown in this zone."
    )
