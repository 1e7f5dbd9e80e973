"""KPIs at scale (issue: KPIs, role dashboards, calendar and back-out alerts).

1. Generates 100,000 ended releases, 1,000,000 release targets and 50,000 CMDB/licence errors
   (``manage.py generate_history``) into a throwaway PostgreSQL database.
2. Full rollup (``kpi_rollup_full``: every day, ISO week and month, written by INSERT … SELECT)
   against ONE hand-written SQL query computing the same figures (every family, the three period
   kinds, the same groups), fetched to the client — measured alternately, A B A B, in the same run.
   Goal: rollup ≤ 1.5 × the query.
3. Incremental rollup after 1,000 new installation reports on a release installing now (and a
   late report on a release that ended months ago): goal < 1 s.
4. The KPI page, the KPI API, the CSV export and the dashboards of every role, served by gunicorn
   (production-like, 2 sync workers) at one connection: p95 (goal < 100 ms) and queries per page.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/releasemgmt_bench_kpis \\
       .venv/bin/python bench/kpis.py [--releases 100000 --targets 1000000 --errors 50000]
Prints each figure; record them in bench/RESULTS.md."""

import argparse
import statistics
import time

from _server import gunicorn, load, setup_django, temp_var_dir

# One hand-written query computing the same figures as the rollup (every family, the three period
# kinds, the same groups). Each branch names the measures it produces; the others are 0 / NULL.
MEASURES = (
    "releases_completed", "releases_backed_out", "releases_cancelled", "targets_total",
    "targets_backed_out", "targets_attempted", "targets_installed", "targets_on_schedule",
    "overrides_requested", "overrides_confirmed", "backouts_decided", "backouts_automatic",
    "cmdb_errors_found", "cmdb_errors_resolved", "licence_errors_found", "licence_errors_resolved",
)  # fmt: skip
SAMPLES = ("lead_time_seconds", "restore_seconds", "decision_seconds")
RELEASE_DIMS = "r.level, r.release_unit_id, COALESCE(ci.environment, ''), r.category_id, ''"
BRANCHES = [
    (
        "r.ended_at",
        RELEASE_DIMS,
        "releases_release r LEFT JOIN cmdb_configurationitem ci ON ci.id = r.release_unit_id",
        "r.ended_at IS NOT NULL",
        {
            "releases_completed": "count(*) FILTER (WHERE r.outcome = 'completed')",
            "releases_backed_out": "count(*) FILTER (WHERE r.outcome = 'backed_out')",
            "releases_cancelled": "count(*) FILTER (WHERE r.outcome = 'cancelled')",
            "targets_total": "COALESCE(sum(r.count_targets) FILTER (WHERE r.outcome IN ('completed', 'backed_out')), 0)",
            "targets_backed_out": "COALESCE(sum(r.count_backed_out) FILTER (WHERE r.outcome IN ('completed', 'backed_out')), 0)",
            "lead_time_seconds": "jsonb_agg(round(extract(epoch FROM r.installed_at - COALESCE("
            "(SELECT MIN(c.approved_at) FROM releases_changerequest c JOIN releases_release_change_requests m "
            "ON m.changerequest_id = c.id WHERE m.release_id = r.id AND c.approved_at IS NOT NULL), r.created_at)))::bigint) "
            "FILTER (WHERE r.outcome = 'completed' AND r.installed_at IS NOT NULL)",
            "restore_seconds": "jsonb_agg(round(extract(epoch FROM r.ended_at - r.backout_required_at))::bigint) "
            "FILTER (WHERE r.outcome = 'backed_out' AND r.backout_required_at IS NOT NULL)",
        },
    ),
    (
        "r.ended_at",
        RELEASE_DIMS,
        "releases_releasetarget t JOIN releases_release r ON r.id = t.release_id "
        "LEFT JOIN cmdb_configurationitem ci ON ci.id = r.release_unit_id",
        "r.ended_at IS NOT NULL AND r.outcome IN ('completed', 'backed_out')",
        {
            "targets_attempted": "count(*) FILTER (WHERE t.attempts > 0 OR t.installed_at IS NOT NULL OR t.installation_state = 'failed')",
            "targets_installed": "count(*) FILTER (WHERE t.installed_at IS NOT NULL)",
            "targets_on_schedule": "count(*) FILTER (WHERE t.installed_at BETWEEN r.installation_start AND r.installation_end)",
        },
    ),
    (
        "d.detected_at",
        "'', NULL::int, COALESCE(ci.environment, ''), NULL::int, d.source",
        "cmdb_discrepancy d LEFT JOIN cmdb_configurationitem ci ON ci.id = d.ci_id",
        "TRUE",
        {
            "cmdb_errors_found": "count(*) FILTER (WHERE d.category = 'cmdb')",
            "cmdb_errors_resolved": "count(*) FILTER (WHERE d.category = 'cmdb' AND d.resolved_at IS NOT NULL)",
            "licence_errors_found": "count(*) FILTER (WHERE d.category = 'licence')",
            "licence_errors_resolved": "count(*) FILTER (WHERE d.category = 'licence' AND d.resolved_at IS NOT NULL)",
        },
    ),
    *[
        (
            f"o.{field}",
            RELEASE_DIMS,
            "releases_backoutoverride o JOIN releases_release r ON r.id = o.release_id "
            "LEFT JOIN cmdb_configurationitem ci ON ci.id = r.release_unit_id",
            f"o.{field} IS NOT NULL",
            {measure: "count(*)"},
        )
        for field, measure in (
            ("requested_at", "overrides_requested"),
            ("confirmed_at", "overrides_confirmed"),
        )
    ],
    (
        "r.backout_decided_at",
        RELEASE_DIMS,
        "releases_release r LEFT JOIN cmdb_configurationitem ci ON ci.id = r.release_unit_id",
        "r.backout_decided_at IS NOT NULL",
        {
            "backouts_decided": "count(*)",
            "backouts_automatic": "count(*) FILTER (WHERE r.backout_started_automatically)",
            "decision_seconds": "jsonb_agg(round(extract(epoch FROM r.backout_decided_at - r.backout_required_at))::bigint) "
            "FILTER (WHERE r.backout_required_at IS NOT NULL)",
        },
    ),
]


def _branch(moment, dimensions, source, where, produced) -> str:
    values = [produced.get(m, "0") for m in MEASURES]
    values += [produced.get(m, "NULL::jsonb") for m in SAMPLES]
    return (
        f"SELECT k.kind, date_trunc(k.kind, {moment} AT TIME ZONE 'UTC')::date, {dimensions}, "  # noqa: S608 (constants of this script)
        f"{', '.join(values)} FROM {source} CROSS JOIN kinds k WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )


REFERENCE_SQL = "WITH kinds(kind) AS (VALUES ('day'), ('week'), ('month')) " + " UNION ALL ".join(
    _branch(*branch) for branch in BRANCHES
)


def reference_query() -> tuple[float, int]:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(REFERENCE_SQL)
        rows = cursor.fetchall()
    return time.perf_counter() - started, len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=100_000)
    parser.add_argument("--targets", type=int, default=1_000_000)
    parser.add_argument("--errors", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--rounds", type=int, default=3, help="A B rounds of rollup vs query")
    parser.add_argument("--requests", type=int, default=200, help="per page at one connection")
    parser.add_argument(
        "--pages-only", action="store_true", help="only the page timings (data and rollup kept)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the generated data (re-run faster)"
    )
    args = parser.parse_args()

    var_dir = temp_var_dir()
    setup_django(var_dir)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from kpis.models import KpiSnapshot
    from kpis.services import kpi_rollup_dirty, kpi_rollup_full
    from releases.models import Release, ReleaseTarget

    if not settings.USING_POSTGRES:
        raise SystemExit("Run it on PostgreSQL: set DATABASE_URL (see the docstring).")
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}")

    # 1. The data
    if Release.objects.filter(ended_at__isnull=False).count() < args.releases * 0.9:
        per = max(1, round(args.targets / args.releases))
        started = time.perf_counter()
        call_command(
            "generate_history",
            releases=args.releases,
            targets_per_release=f"{max(1, per - 5)}-{per + 5}",
            errors=args.errors,
            months=args.months,
            automatic_backouts=20,
            endpoints=2_000,
        )
        print(f"generated in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts = {
        "releases": Release.objects.count(),
        "targets": ReleaseTarget.objects.count(),
        "errors": __import__("cmdb.models", fromlist=["Discrepancy"]).Discrepancy.objects.count(),
    }
    print("data:", ", ".join(f"{v:,} {k}" for k, v in counts.items()))

    if not args.pages_only:
        # 2. Full rollup vs the hand-written query, alternately
        kpi_rollup_full()  # warm-up (caches, plans)
        reference_query()
        rollups, queries = [], []
        for _ in range(args.rounds):
            result = kpi_rollup_full()
            rollups.append(result["seconds"])
            seconds, rows = reference_query()
            queries.append(seconds)
        rollup, query = statistics.median(rollups), statistics.median(queries)
        print(
            f"full rollup {rollup:.2f} s ({result['rows']:,} snapshot rows) vs one hand-written query "
            f"{query:.2f} s ({rows:,} rows): ratio {rollup / query:.2f} (goal ≤ 1.5)"
            f"  [rollups {', '.join(f'{s:.2f}' for s in rollups)}; queries {', '.join(f'{s:.2f}' for s in queries)}]"
        )
        print(f"snapshot rows: {KpiSnapshot.objects.count():,}")

        # 3. Incremental rollup after 1,000 reports
        import factory

        from releases.services import reports
        from tests import factories
        from tests.releases.test_deployment import make_release  # a release installing now

        start = int(time.time() * 1000) % 10**9  # a re-run's factory rows do not collide
        for value in vars(factories).values():
            if isinstance(value, type) and issubclass(value, factory.django.DjangoModelFactory):
                value.reset_sequence(start)
        release = make_release(targets=1_000, threshold=100)
        targets = list(release.targets.values_list("pk", flat=True))
        for number, target_id in enumerate(targets):
            reports.target_report(
                target_id=target_id,
                kind="installation",
                status="succeeded" if number % 10 else "failed",
                report_id=f"bench-{target_id}",
            )
        late = Release.objects.filter(
            ended_at__lt=timezone.now() - timezone.timedelta(days=90)
        ).first()
        late.save()  # a late correction to a release that ended months ago
        with CaptureQueriesContext(connection) as ctx:
            result = kpi_rollup_dirty()
        print(
            f"incremental rollup after 1,000 reports and a late correction: {result['seconds'] * 1000:.0f} ms, "
            f"{result['periods']} periods, {len(ctx.captured_queries)} queries (goal < 1 s)"
        )

    # 4. Pages at one connection
    from releasemgmt.accounts.services import api_token_issue
    from tests.factories import UserFactory

    password = "bench-password-1"  # noqa: S105 (a throwaway benchmark account)
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith="bench-").delete()  # a re-run
    users = {
        role: UserFactory(username=f"bench-{role}", roles=[role], password=password)
        for role in ("ops", "release_manager", "change_manager", "configuration_manager", "auditor")
    }
    token = api_token_issue(user=users["auditor"], name="bench")[1]
    with gunicorn(var_dir, workers=2) as port:
        base = f"http://127.0.0.1:{port}"
        pages = [
            ("KPI page (months)", "/kpis/", "auditor"),
            ("KPI page (weeks, level filter)", "/kpis/?period=week&level=delta", "auditor"),
            ("KPI CSV export", "/kpis/export.csv", "auditor"),
            ("KPI API current values", "/api/v1/kpis/", None),
            ("KPI API series (days)", "/api/v1/kpis/releases/series/?period=day", None),
            *[(f"dashboard: {role}", "/", role) for role in users],
        ]
        for label, path, role in pages:
            if role is None:
                headers = {"Authorization": f"Bearer {token}"}
            else:
                headers = {"Cookie": _session_cookie(base, users[role].username, password)}
            load(port, "GET", path, headers, 10, 1)  # warm-up
            figures = load(port, "GET", path, headers, args.requests, 1)
            assert set(figures["statuses"]) == {200}, (path, figures["statuses"])
            print(
                f"{label:40} p50 {figures['p50_ms']:6.1f} ms  p95 {figures['p95_ms']:6.1f} ms"
                "  (goal p95 < 100 ms)"
            )
    # 5. The KPI cards' first render after a rollup (the page above serves them from the cache
    #    until the next rollup or target change): in process, a new stamp each time.
    import uuid

    from kpis.definitions import UTC
    from kpis.selectors import KpiFilters
    from kpis.views import _cards_html

    today = timezone.now().astimezone(UTC).date()
    for label, filters in (
        ("KPI cards, first render (months)", KpiFilters(period="month")),
        ("KPI cards, first render (weeks, delta)", KpiFilters(period="week", level="delta")),
    ):
        times = []
        for _ in range(30):
            started = time.perf_counter()
            _cards_html(filters, today, stamp=uuid.uuid4().hex)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(
            f"{label:40} p50 {statistics.median(times):6.1f} ms  p95 {times[int(len(times) * 0.95) - 1]:6.1f} ms"
            "  (in process, once per rollup)"
        )
    if not args.keep:
        print("(the data stays in the database named by DATABASE_URL; drop it when done)")


def _session_cookie(base: str, username: str, password: str) -> str:
    """Sign in through the login form and return the session cookie."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/").read().decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (the loopback server this script started)
        f"{base}/accounts/login/", data=data, headers={"Referer": base}
    )
    opener.open(request).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


if __name__ == "__main__":
    main()
