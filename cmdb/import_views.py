"""The CSV import page, its sample files and its API endpoint: thin wrappers around
``cmdb.imports.run.import_csv``, which checks and writes."""

from pathlib import Path

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cmdb.imports.base import ImportReport, attributes_by_kind
from cmdb.imports.reading import max_bytes, max_size_text
from cmdb.imports.run import IMPORTERS, import_csv
from releasemgmt.core.api.permissions import HasPermission
from releasemgmt.core.api.views import ERROR, errors
from releasemgmt.core.exceptions import DomainError, DomainPermissionDenied
from releasemgmt.core.presentation import htmx_swap

PAGE_PERMISSION = "cmdb.add_configurationitem"
SAMPLES_DIR = Path(settings.BASE_DIR) / "docs" / "samples"
# Room for the multipart envelope around the file (boundaries, the other fields).
MULTIPART_SLACK = 64 * 1024
# A refused upload is read and thrown away up to this much, so the browser sees the 413 page
# rather than a connection reset; beyond it the connection is simply closed.
DRAIN_LIMIT = 64 * 1024 * 1024
# The page lists this many problems; the command and the API give all of them.
PAGE_PROBLEMS = 1000
SESSION_KEY = "cmdb_import_result"


class ImportFileTooLarge(DomainError):
    status_code = 413
    default_message = "The file is too large."


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label="What the file holds",
        choices=[(kind, importer.label) for kind, importer in IMPORTERS.items()],
        # opens the chosen kind's column table below the form
        widget=forms.Select(
            attrs={"onchange": "document.getElementById('format-' + this.value).open = true"}
        ),
    )
    # Empty files are reported by the importer, in the same words as the command and the API.
    file = forms.FileField(label="CSV file", allow_empty_file=True)


def _too_large_message() -> str:
    return f"The file is larger than {max_size_text()}; split it into smaller files. Nothing was written."


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _drain(request, length: int) -> None:
    if length > DRAIN_LIMIT:
        return
    while request.read(64 * 1024):
        pass


def _url(name: str, *args) -> str | None:
    """The URL of a page another part of the CMDB may or may not provide (yet)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _missing_permissions(user, kind: str) -> list[str]:
    return [perm for perm in IMPORTERS[kind].permissions if not user.has_perm(perm)]


def _result(report: ImportReport) -> dict:
    """What the page shows of a report (JSON-safe: it may wait in the session for a redirect)."""
    importer = IMPORTERS[report.kind]
    links = []
    if report.written:
        for label, name in (
            ("Configuration items", "cmdb:ci-list"),
            ("Licences", "cmdb:licence-list"),
        ):
            url = _url(name)
            if url:
                links.append((label, url))
        if report.warnings and _url("cmdb:error-list"):
            links.append(("Licence errors", _url("cmdb:error-list") + "?source=import"))
    touched = []
    for model, label, pk in report.touched:
        url = _url("cmdb:ci-detail", pk) if model == "ci" else _url("cmdb:licence-detail", pk)
        touched.append((label, url))
    return {
        "kind": report.kind,
        "label": importer.label,
        "filename": report.filename,
        "dry_run": report.dry_run,
        "written": report.written,
        "ok": report.ok,
        "too_large": report.too_large,
        "message": report.problems[0].message if report.too_large else "",
        "counts": report.counts,
        "seconds": round(report.seconds, 2),
        "errors": len(report.errors),
        "problems": [
            (p.row, p.column, p.message, p.level) for p in report.problems[:PAGE_PROBLEMS]
        ],
        "problems_total": len(report.problems),
        "links": links,
        "touched": touched,
        "touched_more": max(report.created + report.updated - len(touched), 0),
    }


def _kinds() -> list[dict]:
    """Each kind's columns and sample, from the definitions the importer checks against."""
    return [
        {
            "kind": kind,
            "label": importer.label,
            "summary": importer.summary,
            "columns": importer.columns,
            "attributes": attributes_by_kind() if importer.attribute_columns else None,
            "sample_url": reverse("cmdb-import:sample", args=[kind]),
        }
        for kind, importer in IMPORTERS.items()
    ]


def _render(request, *, form, result=None, status=200):
    template = (
        "cmdb/import/partials/_result.html" if htmx_swap(request) else "cmdb/import/import.html"
    )
    context = {
        "form": form,
        "result": result,
        "kinds": _kinds(),
        "max_size": max_size_text(),
    }
    return render(request, template, context, status=status)


@csrf_exempt  # the upload's size is checked before the body is read; csrf_protect runs below
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def import_page(request):
    """Choose the kind, upload a file, check it (dry run) or import it; the report is a table of
    every problem (row, column, message) with the counts."""
    if not request.user.has_perm(PAGE_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        length = _declared_length(request)
        if length > max_bytes() + MULTIPART_SLACK:
            _drain(request, length)
            result = {"too_large": True, "message": _too_large_message()}
            return _render(request, form=ImportForm(), result=result, status=413)
    return _import_page(request)


@csrf_protect
def _import_page(request):
    if request.method == "GET":
        result = request.session.pop(SESSION_KEY, None)
        form = ImportForm(initial={"kind": result["kind"]} if result else None)
        return _render(request, form=form, result=result)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, form=form, result={"form_errors": True})
    kind = form.cleaned_data["kind"]
    missing = _missing_permissions(request.user, kind)
    if missing:
        message = (
            f"You may not import {IMPORTERS[kind].label.lower()}: it needs {', '.join(missing)}."
        )
        return _render(request, form=form, result={"denied": message}, status=403)
    upload = form.cleaned_data["file"]
    report = import_csv(
        kind=kind,
        file=upload,
        filename=Path(upload.name or "upload.csv").name,
        by=request.user,
        dry_run=request.POST.get("action") != "import",
    )
    result = _result(report)
    if report.written and not htmx_swap(request):
        # Post/redirect/get: reloading the summary must not import the file again.
        request.session[SESSION_KEY] = result
        return redirect("cmdb-import:import")
    return _render(request, form=form, result=result, status=413 if report.too_large else 200)


@require_GET
def sample(request, kind):
    """A sample CSV file of ``kind`` (from docs/samples/, checked by the tests to import)."""
    if not request.user.has_perm(PAGE_PERMISSION):
        raise PermissionDenied
    path = SAMPLES_DIR / f"{kind}.csv"
    if kind not in IMPORTERS or not path.is_file():
        raise Http404
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"cmdb-{kind}-sample.csv",
        content_type="text/csv; charset=utf-8",
    )


# API


class ImportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(IMPORTERS), help_text="What the file holds.")
    file = serializers.FileField(
        allow_empty_file=True, help_text="The CSV file (UTF-8, comma or semicolon, ≤ 10 MB)."
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Only check the file and report; write nothing."
    )


class ImportProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True, help_text="Row in the file (the header is row 1); null for the file."
    )
    column = serializers.CharField(allow_blank=True)
    message = serializers.CharField()
    # A plain string: a choice field would collide with other "level" enums in the schema.
    level = serializers.CharField(help_text="`error` (blocks the import) or `warning`.")


class ImportCountsSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    warnings = serializers.IntegerField()


class ImportReportSerializer(serializers.Serializer):
    detail = serializers.CharField()
    kind = serializers.CharField()
    file = serializers.CharField()
    dry_run = serializers.BooleanField()
    valid = serializers.BooleanField(help_text="No errors (warnings do not count).")
    written = serializers.BooleanField(help_text="The changes were committed.")
    counts = ImportCountsSerializer(
        help_text="Created/updated/unchanged: what was, or in a dry run would be, written."
    )
    problems = ImportProblemSerializer(many=True)


def _detail(report: ImportReport) -> str:
    if report.errors:
        return f"The file has {len(report.errors)} problem(s); nothing was written."
    if report.written:
        return "Imported."
    return "The file is valid; dry run, nothing was written."


class CMDBImportView(APIView):
    """Import a CSV file into the CMDB (multipart). Nothing is written unless the whole file is
    valid; the answer lists every problem with its row and column."""

    permission_classes = [HasPermission.of(PAGE_PERMISSION)]
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="cmdb_import",
        request={"multipart/form-data": ImportRequestSerializer},
        responses={
            200: OpenApiResponse(
                ImportReportSerializer, description="Valid: imported, or checked (dry run)."
            ),
            400: OpenApiResponse(
                # The report when the file was read; a plain validation error when the request
                # itself is incomplete (no file, an unknown kind).
                {"anyOf": [{"$ref": "#/components/schemas/ImportReport"}, ERROR]},
                description="The file has problems (the report), or a field is missing or "
                "invalid (`detail`, `errors`); nothing was written.",
            ),
            **errors(),
            413: OpenApiResponse(ERROR, description="The file is larger than the limit (10 MB)."),
            415: OpenApiResponse(ERROR, description="Not a multipart/form-data request."),
        },
    )
    def post(self, request):
        if _declared_length(request) > max_bytes() + MULTIPART_SLACK:
            raise ImportFileTooLarge(_too_large_message())
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kind = serializer.validated_data["kind"]
        missing = _missing_permissions(request.user, kind)
        if missing:
            raise DomainPermissionDenied(
                f"Importing {IMPORTERS[kind].label.lower()} needs {', '.join(missing)}."
            )
        upload = serializer.validated_data["file"]
        report = import_csv(
            kind=kind,
            file=upload,
            filename=Path(upload.name or "upload.csv").name,
            by=request.user,
            dry_run=serializer.validated_data["dry_run"],
        )
        if report.too_large:
            raise ImportFileTooLarge(_too_large_message())
        body = {"detail": _detail(report), **report.as_dict()}
        return Response(body, status=200 if report.ok else 400)
