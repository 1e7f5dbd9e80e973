"""Forms of the CMDB pages. They parse input; the services validate the domain rules and their
errors are put back on the fields they name."""

from django import forms

from cmdb.attributes import SCHEMAS, TYPES
from cmdb.choices import RELATIONSHIP_INVERSE, CIStatus, RelationshipKind
from cmdb.models import ConfigurationItem, Licence
from cmdb.selectors import cis_by_identifiers
from dsl_dhs.models import SoftwareVersion
from releasemgmt.core.forms import ServiceErrorsMixin

ATTRIBUTE_PREFIX = "attr_"


def _attribute_kinds() -> dict[str, list[str]]:
    """Every attribute name with the kinds that have it, in a stable order."""
    names: dict[str, list[str]] = {}
    for kind, schema in SCHEMAS.items():
        for name in schema:
            names.setdefault(name, []).append(str(kind))
    return names


ATTRIBUTE_KINDS = _attribute_kinds()
ATTRIBUTE_LABELS = {
    "ip_address": "IP address",
    "url": "URL",
    "os": "Operating system",
    "cpu_cores": "CPU cores",
    "memory_gb": "Memory (GB)",
    "capacity_tb": "Capacity (TB)",
}
ATTRIBUTE_HINTS = {
    name: next(TYPES[parser] for parser in {SCHEMAS[kinds[0]][name]})
    for name, kinds in ATTRIBUTE_KINDS.items()
}


class ConfigurationItemForm(ServiceErrorsMixin, forms.ModelForm):
    """A CI with one field per attribute. Each attribute field carries the kinds it belongs to
    (``data-kinds``); ``cmdb-ci-form.js`` shows only the chosen kind's fields. Without script
    all are shown and a value in a field of another kind is refused next to that field."""

    class Meta:
        model = ConfigurationItem
        fields = [
            "identifier",
            "name",
            "kind",
            "status",
            "environment",
            "location",
            "hardware_model",
            "owner",
            "description",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.status if self.instance.pk else None
        if current != CIStatus.RETIRED:
            # Retiring asks for a reason: it has its own button on the CI page.
            self.fields["status"].choices = [
                c for c in self.fields["status"].choices if c[0] != CIStatus.RETIRED
            ]
        self.fields["location"].queryset = self.fields["location"].queryset.order_by("name")
        self.fields["kind"].widget.attrs["data-kind-select"] = "1"
        attributes = self.instance.attributes or {}
        for name, kinds in ATTRIBUTE_KINDS.items():
            self.fields[ATTRIBUTE_PREFIX + name] = forms.CharField(
                required=False,
                label=ATTRIBUTE_LABELS.get(name, name.replace("_", " ").capitalize()),
                help_text=ATTRIBUTE_HINTS[name][:1].upper() + ATTRIBUTE_HINTS[name][1:],
                initial=attributes.get(name, ""),
                widget=forms.TextInput(attrs={"data-kinds": ",".join(kinds)}),
            )

    def _post_clean(self):
        """Model validation (identifier unique whatever the case, attributes per kind) is left to
        ``ci_create``/``ci_update``: they name the field, and the view puts it there."""

    def attribute_fields(self):
        return [self[ATTRIBUTE_PREFIX + name] for name in ATTRIBUTE_KINDS]

    def main_fields(self):
        return [self[name] for name in self.Meta.fields]

    def service_fields(self) -> dict:
        """The cleaned data as the ``ci_create``/``ci_update`` keyword arguments."""
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["attributes"] = {
            name: value.strip()
            for name in ATTRIBUTE_KINDS
            if (value := self.cleaned_data.get(ATTRIBUTE_PREFIX + name) or "").strip()
        }
        return data

    def service_field(self, name: str) -> str:
        """A service names an attribute ``attributes.<name>``."""
        if name.startswith("attributes."):
            return ATTRIBUTE_PREFIX + name.split(".", 1)[1]
        return name


class RetireForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.TextInput(attrs={"placeholder": "Why is it retired?"})
    )


def relationship_choices():
    """Both readings of every kind: "runs on …" (this CI is the source) and "runs …" (the
    other CI is the source)."""
    outgoing = [(f"out:{value}", label) for value, label in RelationshipKind.choices]
    incoming = [
        (f"in:{value}", RELATIONSHIP_INVERSE[value])
        for value, _ in RelationshipKind.choices
        if RELATIONSHIP_INVERSE[value] != RelationshipKind(value).label
    ]
    return [("This item …", outgoing), ("… the other way round", incoming)]


class RelationshipForm(forms.Form):
    """A relationship read from the CI page: "this CI <relation> <other identifier>"."""

    relation = forms.ChoiceField(choices=relationship_choices)
    other = forms.CharField(
        max_length=100,
        label="Configuration item",
        widget=forms.TextInput(attrs={"placeholder": "identifier, e.g. web-prod-01"}),
    )

    def clean_other(self):
        identifier = self.cleaned_data["other"].strip()
        other = cis_by_identifiers([identifier]).get(identifier.lower())
        if other is None:
            raise forms.ValidationError(f"No configuration item has the identifier “{identifier}”.")
        return other

    def relationship_for(self, ci) -> dict:
        direction, kind = self.cleaned_data["relation"].split(":", 1)
        other = self.cleaned_data["other"]
        if direction == "out":
            return {"source": ci, "target": other, "kind": kind}
        return {"source": other, "target": ci, "kind": kind}


class InstalledSoftwareForm(forms.Form):
    version = forms.ModelChoiceField(
        queryset=SoftwareVersion.objects.select_related("product").order_by(
            "product__name", "version"
        ),
        help_text="Replaces the CI's current version of the same product (kept as history).",
    )
    licence = forms.ModelChoiceField(
        queryset=Licence.objects.select_related("licence_product"),
        required=False,
        empty_label="Allocate one with a free seat",
    )
    source_reference = forms.CharField(
        max_length=100, required=False, label="Reference", help_text="Ticket, release, agent…"
    )


class LicenceForm(ServiceErrorsMixin, forms.ModelForm):
    class Meta:
        model = Licence
        fields = [
            "licence_product",
            "name",
            "metric",
            "seats",
            "low_seat_threshold",
            "valid_from",
            "valid_until",
            "vendor",
            "contract_reference",
            "notes",
        ]
        widgets = {
            "valid_from": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "valid_until": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def _post_clean(self):
        """Model validation (seats unless site, validity range) is left to ``licence_create``/
        ``licence_update``, which name the field."""


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label="Resolution",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What was done about it?"}),
        error_messages={"required": "Say what was done to resolve it."},
    )
