"""Forms of the DSL and DHS pages. They parse and check input; the writes are the services'."""

import re

from django import forms

from dsl_dhs.models import LicenceProduct, SoftwareProduct

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class SoftwareProductForm(forms.Form):
    name = forms.CharField(max_length=200)
    vendor = forms.CharField(max_length=200, required=False)
    licence_product = forms.ModelChoiceField(
        queryset=LicenceProduct.objects.all(),
        required=False,
        empty_label="— none needed —",
        help_text="The licence each installation consumes.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class _ArtefactFields(forms.Form):
    artefact = forms.FileField(
        allow_empty_file=False,
        help_text="The installable file; its size and SHA-256 are computed on the server.",
    )
    sha256 = forms.CharField(
        label="SHA-256 (optional)",
        required=False,
        max_length=100,
        help_text="Paste the checksum you computed (e.g. `sha256sum file`): a different file is "
        "refused and nothing is stored.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )

    def clean_sha256(self):
        value = self.cleaned_data["sha256"].strip()
        if value and not _SHA256.match(value):
            raise forms.ValidationError("A SHA-256 is 64 hexadecimal characters.")
        return value.lower()


class VersionUploadForm(_ArtefactFields):
    """A new draft version of a product, with its artefact."""

    product = forms.ModelChoiceField(queryset=SoftwareProduct.objects.all())
    version = forms.CharField(max_length=100, help_text="e.g. 2.4.1")
    release_notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    field_order = ["product", "version", "release_notes", "artefact", "sha256"]


class ArtefactForm(_ArtefactFields):
    """The artefact of an existing draft version."""


class StatusChangeForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            ("authorised", "authorised"),
            ("quarantined", "quarantined"),
            ("retired", "retired"),
        ]
    )
    reason = forms.CharField(required=False, max_length=2000)


class StockAdjustForm(forms.Form):
    on_hand = forms.IntegerField(min_value=0, label="Units on hand")
    reason = forms.CharField(
        max_length=500, help_text="Delivery, write-off, stock-take … (recorded in the audit log)."
    )


class ReservationForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, initial=1)
    reference = forms.CharField(
        max_length=100, help_text="What the units are for, e.g. the release number REL-2026-0007."
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ReservationCloseForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)
