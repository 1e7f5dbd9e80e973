"""``/metrics``: the KPIs and the live deployment counters in the Prometheus text format, for the
Prometheus/Grafana that ops teams already run. Exposition by prometheus-client; the figures come
from the KPI snapshots and one aggregate over the releases that are deploying."""

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from kpis.definitions import PeriodKind
from kpis.models import KpiRollupState
from kpis.selectors import KpiFilters, kpi_report
from releases.choices import ReleaseState
from releases.models import Release
from releases.selectors import release_state_counts

LIVE_STATES = (
    ReleaseState.DISTRIBUTING,
    ReleaseState.INSTALLING,
    ReleaseState.BACKOUT_REQUIRED,
    ReleaseState.BACKING_OUT,
)
COUNTERS = (
    ("count_targets", "targets"),
    ("count_distributed", "distributed"),
    ("count_distribution_failed", "distribution_failed"),
    ("count_installed", "installed"),
    ("count_install_failed", "install_failed"),
    ("count_backed_out", "backed_out"),
    ("count_backout_failed", "backout_failed"),
)


class ReleaseCollector:
    """Collected on every scrape: nothing is kept between scrapes."""

    def collect(self):
        value = GaugeMetricFamily(
            "releasemgmt_kpi",
            "Current value of each KPI for the period so far (UTC periods).",
            labels=["kpi", "unit", "period"],
        )
        target = GaugeMetricFamily(
            "releasemgmt_kpi_target",
            "Target of each KPI, where one is set.",
            labels=["kpi", "unit"],
        )
        for period in (PeriodKind.WEEK, PeriodKind.MONTH):
            today = timezone.now().date()
            for result in kpi_report(KpiFilters(period=period, first=today, last=today)):
                if result.current.value is not None:
                    value.add_metric(
                        [result.kpi.key, result.kpi.unit, period], result.current.value
                    )
                if period == PeriodKind.MONTH and result.target is not None:
                    target.add_metric([result.kpi.key, result.kpi.unit], result.target)
        yield value
        yield target

        states = GaugeMetricFamily("releasemgmt_releases", "Releases per state.", labels=["state"])
        counts = release_state_counts()
        for state in ReleaseState.values:
            states.add_metric([state], counts.get(state, 0))
        yield states

        targets = GaugeMetricFamily(
            "releasemgmt_deployment_targets",
            "Targets of each release that is deploying or backing out, by progress.",
            labels=["release", "state", "progress"],
        )
        waiting = {"count": 0, "deadline": None}
        for row in Release.objects.filter(state__in=LIVE_STATES).values(
            "number", "state", "backout_deadline", *(field for field, _ in COUNTERS)
        ):
            for field, progress in COUNTERS:
                targets.add_metric([row["number"], row["state"], progress], row[field])
            if row["state"] == ReleaseState.BACKOUT_REQUIRED:
                waiting["count"] += 1
                deadline = row["backout_deadline"]
                if deadline and (waiting["deadline"] is None or deadline < waiting["deadline"]):
                    waiting["deadline"] = deadline
        yield targets
        yield GaugeMetricFamily(
            "releasemgmt_backouts_waiting",
            "Releases waiting for a back-out decision.",
            value=waiting["count"],
        )
        if waiting["deadline"] is not None:
            yield GaugeMetricFamily(
                "releasemgmt_backout_decision_deadline_seconds",
                "Seconds left until the soonest back-out decision deadline (negative: passed).",
                value=(waiting["deadline"] - timezone.now()).total_seconds(),
            )
        state = KpiRollupState.objects.filter(pk=1).values("last_run_at").first()
        if state and state["last_run_at"]:
            yield GaugeMetricFamily(
                "releasemgmt_kpi_rollup_last_run_timestamp_seconds",
                "When the KPI rollup last ran (Unix time).",
                value=state["last_run_at"].timestamp(),
            )


def _allowed_address(request) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _authorised(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    presented = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return True
    return _allowed_address(request)


@login_not_required
@never_cache
@require_GET
def metrics(request):
    if not _authorised(request):
        response = HttpResponse(
            "Present the metrics token as 'Authorization: Bearer <METRICS_TOKEN>', or scrape from an "
            "address in METRICS_ALLOWED_IPS.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReleaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
