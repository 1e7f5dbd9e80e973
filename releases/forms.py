"""Forms of the release pages. They parse input; the services in ``releases.services`` decide the
domain rules, and their errors are put back next to the fields they name (``add_service_errors``)."""

import re

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from cmdb.choices import SERVICE_KINDS, CIStatus, Environment
from cmdb.models import ConfigurationItem
from cmdb.selectors import cis_by_identifiers
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import HardwareModel, SoftwareVersion
from releasemgmt.core.forms import ServiceErrorsMixin
from releases.choices import (
    DistributionState,
    FailureConditionKind,
    FreezeScope,
    InstallationState,
    ReleaseLevel,
    ReviewOutcome,
    TestResult,
)
from releases.models import ChangeRequest, FreezeWindow, Release, UnitComponent

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
# The plan's windows: ISO 8601 text, whatever the browser's locale (a ``datetime-local`` input
# shows "12/01/2026, 08:00 AM" in one browser and "01.12.2026, 08:00" in the next).
ISO_DATETIME = "%Y-%m-%d %H:%M"
ISO_DATETIME_INPUTS = [ISO_DATETIME, "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.identifier} — {obj.name}"


class ChangeRequestChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.number} — {obj.title}"


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        full = obj.get_full_name()
        return f"{full} ({obj.get_username()})" if full else obj.get_username()


class ReleaseForm(ServiceErrorsMixin, forms.ModelForm):
    """The release's description: what it is, what it releases, what triggered it. Used to create
    (``release_create``) and, while the plan is editable, to edit (``release_update_plan``)."""

    release_unit = UnitChoiceField(
        queryset=ConfigurationItem.objects.none(),
        required=False,
        label="Release unit",
        empty_label="— choose later (required to plan) —",
        help_text="The service or application this release changes.",
    )
    change_requests = ChangeRequestChoiceField(
        queryset=ChangeRequest.objects.none(),
        required=False,
        label="Change requests",
        help_text="Hold Ctrl (⌘ on a Mac) to pick several. A Package release bundles at least two.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    project_url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", label="Project URL"
    )

    class Meta:
        model = Release
        fields = [
            "title",
            "description",
            "level",
            "category",
            "release_unit",
            "trigger",
            "trigger_reference",
            "project_key",
            "project_url",
            "change_requests",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"project_key": "Project key", "project_url": "Project URL"}
        help_texts = {
            "level": "Delta: only what changed since the last release of the unit. Package: several "
            "changes bundled. Full: every component of the unit.",
            "category": "A policy: which roll-out tasks and tests it waives.",
            "project_key": "e.g. PRJ-42, the bridge to project management (optional).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only services and applications are release units; a retired one releases nothing.
        self.fields["release_unit"].queryset = (
            ConfigurationItem.objects.filter(kind__in=SERVICE_KINDS)
            .exclude(status=CIStatus.RETIRED)
            .order_by("identifier")
        )
        # cancelled changes are not offered (those already linked stay shown, and selected)
        changes = ChangeRequest.objects.not_cancelled()
        if self.instance.pk:
            changes = changes | self.instance.change_requests.all()
        self.fields["change_requests"].queryset = changes.distinct().order_by("-created_at")
        self.fields["category"].empty_label = "— none (nothing waived) —"
        if not self.instance.pk:
            self.fields["level"].initial = ReleaseLevel.DELTA
        if self.instance.pk:
            self.fields["owner"] = OwnerChoiceField(
                queryset=get_user_model()
                .objects.filter(is_active=True, is_service_account=False)
                .order_by("username"),
                required=False,
                initial=self.instance.owner_id,
                help_text="Who drives this release.",
            )

    def validate_unique(self):
        """Left to the services (the number is given by ``release_create``)."""

    def service_fields(self) -> dict:
        """The cleaned data as keyword arguments of ``release_create`` / ``release_update_plan``."""
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        if "owner" in self.fields:
            data["owner"] = self.cleaned_data["owner"]
        data["change_requests"] = list(data["change_requests"])
        return data


class ScheduleForm(ServiceErrorsMixin, forms.ModelForm):
    """The windows, the back-out decision time and how the release is deployed (distribution
    method, installation mode, waves, login threshold). The windows are ISO 8601 text
    (``2026-12-01 08:00``), shown and read in the user's time zone (activated by the middleware,
    named in the help text) and stored in UTC.

    A deployment field left out of the post keeps its value (a client that only sets the windows
    does not reset the waves); one that is posted is validated like the others."""

    WINDOW_FIELDS = (
        "distribution_start",
        "distribution_end",
        "installation_start",
        "installation_end",
    )
    DEPLOYMENT_FIELDS = (
        "distribution_method",
        "deployment_tool",
        "installation_mode",
        "wave_size",
        "wave_interval_minutes",
        "login_threshold",
    )

    class Meta:
        model = Release
        fields = [
            "distribution_start",
            "distribution_end",
            "installation_start",
            "installation_end",
            "backout_decision_minutes",
            "distribution_method",
            "deployment_tool",
            "installation_mode",
            "wave_size",
            "wave_interval_minutes",
            "login_threshold",
        ]
        labels = {
            "distribution_start": "Distribution starts",
            "distribution_end": "Distribution ends",
            "installation_start": "Installation starts",
            "installation_end": "Installation ends",
            "backout_decision_minutes": "Back-out decision deadline (minutes)",
            "distribution_method": "Distribution method",
            "deployment_tool": "Deployment tool",
            "installation_mode": "Installation mode",
            "wave_size": "Wave size (targets)",
            "wave_interval_minutes": "Minutes between waves",
            "login_threshold": "Maximum logged-in users",
        }
        help_texts = {
            "deployment_tool": "The tool that distributes and reports back (e.g. SCCM, Ansible).",
            "wave_size": "Targets per wave; 0 installs on every target at once.",
            "login_threshold": "Install when the target's agent reports at most this many "
            "logged-in users.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone = timezone.get_current_timezone_name()
        for name in self.WINDOW_FIELDS:
            field = self.fields[name]
            field.widget = forms.DateTimeInput(
                format=ISO_DATETIME,
                attrs={
                    "placeholder": "YYYY-MM-DD HH:MM",
                    "pattern": r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?",
                    "autocomplete": "off",
                    "spellcheck": "false",
                },
            )
            field.input_formats = ISO_DATETIME_INPUTS
            field.error_messages["invalid"] = (
                "Enter the date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-01 08:00."
            )
            field.help_text = f"YYYY-MM-DD HH:MM in {zone} (your time zone)."
        for name in ("wave_size", "wave_interval_minutes", "login_threshold"):
            self.fields[name].widget.attrs["min"] = 0
        if self.is_bound:
            for name in self.DEPLOYMENT_FIELDS:
                if name not in self.data:
                    del self.fields[name]

    def validate_unique(self):
        """Constraints (window order) are checked by the service's ``full_clean``."""

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.fields}


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.product.name} {obj.version}"


class ReleaseChangeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.number} — {obj.title}"


class SoftwareItemForm(ServiceErrorsMixin, forms.Form):
    """Add an authorised DSL version (of one of the unit's components, when it declares any)."""

    SERVICE_FIELDS = {"items": "software_version"}

    software_version = VersionChoiceField(
        queryset=SoftwareVersion.objects.none(),
        label="Software version",
        empty_label="— choose an authorised version —",
        help_text="Only authorised DSL versions can enter a release.",
    )
    change_request = ReleaseChangeChoiceField(
        queryset=ChangeRequest.objects.none(),
        required=False,
        label="Belongs to change",
        empty_label="— none —",
    )

    def __init__(self, *args, release: Release, **kwargs):
        super().__init__(*args, **kwargs)
        versions = SoftwareVersion.objects.filter(status=VersionStatus.AUTHORISED).select_related(
            "product"
        )
        components = UnitComponent.objects.filter(unit_id=release.release_unit_id).values(
            "product_id"
        )
        if components.exists():
            versions = versions.filter(product_id__in=components)
        self.fields["software_version"].queryset = versions.order_by("product__name", "-created_at")
        self.fields["change_request"].queryset = release.change_requests.order_by("number")


class HardwareItemForm(ServiceErrorsMixin, forms.Form):
    SERVICE_FIELDS = {"items": "hardware_model"}

    hardware_model = forms.ModelChoiceField(
        queryset=HardwareModel.objects.order_by("manufacturer", "name"),
        label="Hardware model",
        empty_label="— choose a model —",
    )
    quantity = forms.IntegerField(min_value=1, initial=1)
    change_request = ReleaseChangeChoiceField(
        queryset=ChangeRequest.objects.none(),
        required=False,
        label="Belongs to change",
        empty_label="— none —",
    )

    def __init__(self, *args, release: Release, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["change_request"].queryset = release.change_requests.order_by("number")


class TargetsForm(ServiceErrorsMixin, forms.Form):
    """Target CIs as identifiers, one per line or separated by commas: usable with hundreds of
    CIs (paste a list), and the whole set is replaced at once, as ``release_targets_set`` does.
    Each unknown or retired CI is named with its line, so a long pasted list is easy to fix."""

    SERVICE_FIELDS = {"targets": "identifiers"}
    # Lines named in the errors; a list with more wrong lines says how many more.
    ERRORS_SHOWN = 20

    identifiers = forms.CharField(
        label="Target CIs",
        required=False,
        strip=False,  # the line numbers in the errors count the leading blank lines too
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        help_text="CI identifiers (host names, asset tags), one per line or separated by commas; "
        "paste a list as it is. The list replaces the current targets.",
    )

    @staticmethod
    def entries(text: str) -> list[tuple[int, str]]:
        """``(line number, identifier)`` for each identifier of ``text``."""
        return [
            (number, name)
            for number, line in enumerate(text.splitlines(), start=1)
            for name in re.split(r"[\s,;]+", line)
            if name
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wrong_names: list[str] = []  # unknown or retired, for the picker to mark

    def clean_identifiers(self):
        entries = self.entries(self.cleaned_data["identifiers"])
        if not entries:
            raise forms.ValidationError("Give at least one target CI.")
        found = cis_by_identifiers(name for _, name in entries)
        problems = []
        for number, name in entries:
            ci = found.get(name.lower())
            if ci is None:
                problems.append(f"line {number}: no CI '{name}'")
            elif ci.status == CIStatus.RETIRED:
                problems.append(f"line {number}: '{ci.identifier}' is retired")
            else:
                continue
            self.wrong_names.append(name)
        if problems:
            shown = problems[: self.ERRORS_SHOWN]
            if len(problems) > len(shown):
                shown.append(f"… and {len(problems) - len(shown)} more lines like these")
            raise forms.ValidationError(shown)
        cis = {}
        for _, name in entries:
            ci = found[name.lower()]
            cis.setdefault(ci.pk, ci)
        return list(cis.values())


class BackoutPlanForm(ServiceErrorsMixin, forms.Form):
    SERVICE_FIELDS = {"backout_steps": "steps"}

    steps = forms.CharField(
        label="Back-out steps",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One step per line, in order. The list replaces the current plan.",
    )

    def step_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["steps"].splitlines() if line.strip()]


class FailureConditionForm(ServiceErrorsMixin, forms.Form):
    """A failure condition: its kind, a threshold (percentage or count) and, for an external
    health signal, the signal's name (its only parameter)."""

    SERVICE_FIELDS = {"parameters": "signal"}

    kind = forms.ChoiceField(choices=FailureConditionKind.choices, label="Condition")
    threshold = forms.DecimalField(
        required=False,
        max_digits=7,
        decimal_places=2,
        help_text="A percentage for a failure rate, a count for failed targets.",
    )
    signal = forms.CharField(
        required=False,
        max_length=200,
        label="Health signal",
        help_text="For “External health signal failed”: the signal's name.",
    )
    description = forms.CharField(required=False, max_length=300)

    def service_fields(self) -> dict:
        data = self.cleaned_data
        signal = data["signal"].strip()
        return {
            "kind": data["kind"],
            "threshold": data["threshold"],
            "parameters": {"signal": signal} if signal else {},
            "description": data["description"].strip(),
        }


class TransitionForm(forms.Form):
    """A transition's dialog: the reason, and — outside the plan's window — the confirmation
    to go ahead anyway (the service asks for both)."""

    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    confirm_outside_window = forms.BooleanField(
        required=False, label="Go ahead outside the plan's window (the reason is recorded)"
    )

    def details(self) -> dict:
        """What the transition service takes besides the reason."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return {"confirm_outside_window": True} if data.get("confirm_outside_window") else {}


class ReviewForm(ServiceErrorsMixin, forms.Form):
    """The post-implementation review that ``review`` records: the outcome is required, the
    lessons prompted."""

    outcome = forms.ChoiceField(choices=[("", "Choose…"), *ReviewOutcome.choices])
    went_well = forms.CharField(
        required=False,
        max_length=10000,
        label="What went well",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    went_badly = forms.CharField(
        required=False,
        max_length=10000,
        label="What went badly",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    follow_up_actions = forms.CharField(
        required=False,
        max_length=10000,
        label="Follow-up actions",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line.",
    )

    def review(self) -> dict:
        """The review as the service takes it (``details["review"]``)."""
        data = self.cleaned_data
        return {
            "outcome": data["outcome"],
            "went_well": data["went_well"],
            "went_badly": data["went_badly"],
            "follow_up_actions": data["follow_up_actions"].splitlines(),
        }


class SignOffForm(ServiceErrorsMixin, forms.Form):
    """Record a test result. Waivers come from the category, so only passed or failed."""

    result = forms.ChoiceField(
        choices=[(TestResult.PASSED, "Passed"), (TestResult.FAILED, "Failed")],
        widget=forms.RadioSelect,
    )
    evidence = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="A link or a note: what shows the result.",
    )


# Deployment and back-out.


class TargetFilterForm(forms.Form):
    """The per-target table's filter: an installation state and/or a distribution state."""

    state = forms.ChoiceField(
        choices=[("", "Any installation state"), *InstallationState.choices],
        required=False,
        label="Installation",
    )
    distribution = forms.ChoiceField(
        choices=[("", "Any distribution state"), *DistributionState.choices],
        required=False,
        label="Distribution",
    )


class InstallNowForm(forms.Form):
    """The manual trigger of one target; the freeze reason only counts during a freeze, for
    someone allowed to override it; the confirmation and its reason outside the installation
    window."""

    freeze_override_reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason for overriding the freeze",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    confirm_outside_window = forms.BooleanField(required=False)
    outside_window_reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Why it runs outside the installation window",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class EmergencyInstallForm(ServiceErrorsMixin, forms.Form):
    """``install`` despite a freeze window: an emergency, with a reason that is audited."""

    SERVICE_FIELDS = {"freeze_override_reason": "reason"}

    reason = forms.CharField(
        max_length=2000,
        label="Why this cannot wait for the freeze to end",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Name the incident or emergency change; the override is audited.",
    )


class ApproveBackoutForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason (optional)",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class OverrideRequestForm(ServiceErrorsMixin, forms.Form):
    """Ask to continue despite the met condition; a different person confirms."""

    reason = forms.CharField(
        max_length=2000,
        label="Why continuing is safer than backing out",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="At least a sentence. Another person with the override permission must confirm; "
        "the override is counted.",
    )


class FreezeWindowForm(ServiceErrorsMixin, forms.ModelForm):
    """Declare a freeze window. Start and end are read in the user's time zone and stored in
    UTC; the scope names an environment or a release unit when it is not everything."""

    release_unit = UnitChoiceField(
        queryset=ConfigurationItem.objects.none(),
        required=False,
        label="Release unit",
        empty_label="— choose a release unit —",
    )

    class Meta:
        model = FreezeWindow
        fields = ["start", "end", "scope", "environment", "release_unit", "reason"]
        labels = {"start": "Starts", "end": "Ends", "scope": "Applies to"}
        widgets = {"scope": forms.RadioSelect}
        help_texts = {"reason": "Shown wherever an installation is refused because of it."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("start", "end"):
            field = self.fields[name]
            field.widget = forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format=DATETIME_LOCAL
            )
            field.input_formats = [DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        self.fields["scope"].initial = FreezeScope.EVERYTHING
        self.fields["environment"].choices = [
            ("", "— choose an environment —"),
            *Environment.choices,
        ]
        self.fields["release_unit"].queryset = ConfigurationItem.objects.filter(
            kind__in=SERVICE_KINDS
        ).order_by("identifier")

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        # What the scope does not use is dropped, so a stale choice does not linger.
        if scope != FreezeScope.ENVIRONMENT:
            data["environment"] = ""
        if scope != FreezeScope.RELEASE_UNIT:
            data["release_unit"] = None
        if scope == FreezeScope.ENVIRONMENT and not data.get("environment"):
            self.add_error("environment", "Choose the environment the freeze applies to.")
        if scope == FreezeScope.RELEASE_UNIT and not data.get("release_unit"):
            self.add_error("release_unit", "Choose the release unit the freeze applies to.")
        return data

    def _post_clean(self):
        """Model validation (end after start) is the service's ``full_clean``."""

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "start": data["start"],
            "end": data["end"],
            "scope": data["scope"],
            "environment": data["environment"],
            "release_unit": data["release_unit"],
            "reason": data["reason"],
        }
