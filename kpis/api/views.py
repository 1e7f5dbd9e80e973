from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from kpis.api.serializers import KpiSerializer, KpiSeriesSerializer
from kpis.definitions import KPI_BY_KEY, KPIS
from kpis.forms import KpiFilterForm
from kpis.selectors import KpiResult, kpi_report
from releasemgmt.core.api.permissions import HasPermission
from releasemgmt.core.api.views import errors

FILTERS = [
    OpenApiParameter(
        "period",
        str,
        enum=["day", "week", "month"],
        description="Period kind (UTC); month by default.",
    ),
    OpenApiParameter(
        "from",
        OpenApiTypes.DATE,
        description="First day shown (UTC); 12 periods back by default (30 days).",
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.DATE,
        description="Last day shown (UTC); today by default. At most 5 years after `from`.",
    ),
    OpenApiParameter("level", str, enum=["delta", "package", "full"], description="Release level."),
    OpenApiParameter("unit", int, description="Release unit (CI id)."),
    OpenApiParameter(
        "environment", str, description="Environment of the release unit (errors: of their CI)."
    ),
    OpenApiParameter("category", int, description="Release category id."),
]


def point_data(point, kpi) -> dict:
    numerator = denominator = None
    if kpi.formula in ("ratio", "sum", "per_day"):
        numerator = sum(
            -point.measures[n[1:]] if n.startswith("-") else point.measures[n]
            for n in kpi.numerator
        )
    if kpi.formula == "ratio":
        denominator = sum(point.measures[n] for n in kpi.denominator)
    return {
        "start": point.start,
        "end": point.end,
        "label": point.label,
        "value": point.value,
        "numerator": numerator,
        "denominator": denominator,
        "samples": point.measures.get("samples") if kpi.samples else None,
        "parts": [{"label": label, "count": count} for label, count in point.parts],
        "drill_downs": point.drills,
    }


def kpi_data(result: KpiResult, period: str) -> dict:
    kpi = result.kpi
    return {
        "key": kpi.key,
        "label": kpi.label,
        "group": kpi.group,
        "unit": kpi.unit,
        "better": kpi.better,
        "definition": kpi.what,
        "counted_by": kpi.when,
        "period": period,
        "current": point_data(result.current, kpi),
        "target": result.target,
        "status": result.status,
    }


def _filters(request):
    form = KpiFilterForm(request.query_params)
    if not form.is_valid():
        raise ValidationError(form.error_dict())
    return form.filters()


class KpiViewSet(viewsets.ViewSet):
    """The KPIs read from their snapshots: every KPI's current value against its target, and one
    KPI per period (the chart's data)."""

    permission_classes = [HasPermission.of("kpis.view_kpisnapshot")]
    lookup_field = "key"
    lookup_value_regex = "[a-z_]+"

    @extend_schema(parameters=FILTERS, responses={200: KpiSerializer(many=True), **errors(400)})
    def list(self, request):
        """Every KPI's current value (the period holding `to`, so far) against its target."""
        filters = _filters(request)
        report = kpi_report(filters)
        return Response(
            KpiSerializer([kpi_data(r, filters.period) for r in report], many=True).data
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("key", str, OpenApiParameter.PATH, enum=[k.key for k in KPIS]),
            *FILTERS,
        ],
        responses={200: KpiSeriesSerializer, **errors(400, 404)},
    )
    @action(detail=True, methods=["get"])
    def series(self, request, key=None):
        """One KPI's value per period over a range."""
        kpi = KPI_BY_KEY.get(key)
        if kpi is None:
            raise Http404(f"No KPI is called {key!r}.")
        filters = _filters(request)
        (result,) = kpi_report(filters, keys={key})
        data = {
            "key": kpi.key,
            "label": kpi.label,
            "unit": kpi.unit,
            "period": filters.period,
            "target": result.target,
            "points": [point_data(p, kpi) for p in result.points],
        }
        return Response(KpiSeriesSerializer(data).data)
