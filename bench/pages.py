"""The pages people open all day, at scale (issue #13, pages).

Data (built once per database and reused by later runs, marked by its release numbers ``BP-…``):
50,000 releases over two years — most ended (closed, backed out, cancelled), the rest spread over
the open states, owned by two release managers, in the demo's categories and on 20 release
units, with 0-7 targets each — 50,000 CIs (``bench/cmdb_list.py``'s), a release with 10,000
targets in the middle of its installation (installed, failed, running, scheduled, with their
reports) and a few back-outs waiting for a decision.

Measured under gunicorn with the production settings (5 workers, 4 keep-alive connections),
each page as the role that uses it, every answer asserted 200:

- the release list (``/releases/``): first page, sorted, "only mine", a search, a state filter
  — goal p95 < 100 ms;
- the CMDB list (``/cmdb/``): first page, a kind filter, a search — goal p95 < 100 ms;
- the page of the 10,000-target release and the dashboard of each role — goal p95 < 300 ms.

Each line also gives the page's queries and its median time in process (Django test client, one
request alone), and a first line times a page that reads almost nothing (the account page): the
floor this machine serves at the moment, to read the others against when it is busy.

Run (PostgreSQL and Redis: the production settings need both):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/releasemgmt_bench_pages \\
    REDIS_URL=redis://127.0.0.1:6379/15 .venv/bin/python bench/pages.py

``--requests`` and ``--detail-requests`` set how many requests each list page and each
heavy page gets; ``--rebuild`` drops the bench rows and builds them again. The figures depend on
what else the machine runs: the load average is printed with them."""

import argparse
import os
import random
import secrets
import shutil
import statistics
import time
from datetime import timedelta

from _server import gunicorn, load, setup_django, temp_var_dir

RELEASES = 50_000
CIS = 50_000
BIG_TARGETS = 10_000
PREFIX = "BP-"
BIG_NUMBER = "BP-BIG-10000"

# (state, share of the releases): most of a two-year history has ended.
STATES = (
    ("closed", 0.70),
    ("backed_out", 0.03),
    ("cancelled", 0.07),
    ("requested", 0.04),
    ("planned", 0.03),
    ("built", 0.02),
    ("testing", 0.025),
    ("accepted", 0.015),
    ("rollout_planned", 0.015),
    ("verified", 0.01),
    ("verification_failed", 0.005),
    ("distributing", 0.005),
    ("distributed", 0.005),
    ("installing", 0.01),
    ("installed", 0.01),
    ("reviewed", 0.02),
    ("backing_out", 0.002),
)
WORDS = (
    "antivirus", "browser", "payroll", "ledger", "vpn", "office", "firmware", "kernel", "java",
    "database", "print", "portal", "mail", "backup", "monitoring", "crm", "erp", "hr", "intranet",
    "sso", "dns", "proxy", "patch", "security", "upgrade", "rollout", "hotfix", "quarterly",
)  # fmt: skip
USERS = {
    "release_manager": "bench-release-manager",
    "change_manager": "bench-change-manager",
    "ops": "bench-ops",
    "configuration_manager": "bench-config-manager",
    "auditor": "bench-auditor",
}
SECOND = {"release_manager": "bench-release-manager-2", "ops": "bench-ops-2"}


def build(rebuild: bool) -> None:
    """The bench's data, unless a previous run left it complete."""
    from cmdb_list import seed as seed_cis
    from django.db import connection

    from releases.models import Release

    if rebuild:
        Release.objects.filter(number__startswith=PREFIX).delete()
    seed_cis(CIS)
    users = _users()
    have = Release.objects.filter(number__startswith=PREFIX).count()
    if have != RELEASES + 1 + 8:
        started = time.perf_counter()
        Release.objects.filter(number__startswith=PREFIX).delete()
        _releases(users)
        _big_release(users)
        _backouts(users)
        print(f"built the releases in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _users() -> dict:
    import factory

    from tests import factories
    from tests.factories import UserFactory

    # factory sequences start at 0 in each process: past runs' rows must not collide
    start = int(time.time() * 1000) % 10**9
    for value in vars(factories).values():
        if isinstance(value, type) and issubclass(value, factory.django.DjangoModelFactory):
            value.reset_sequence(start)

    users = {}
    for role, name in (*USERS.items(), *SECOND.items()):
        users[name] = UserFactory(username=name, roles=[role])
    return users


def _units() -> list:
    """20 release units (not named ``bench-…``: cmdb_list.seed counts those as its CIs)."""
    from cmdb.models import ConfigurationItem

    return [
        ConfigurationItem.objects.get_or_create(
            identifier=f"unit-bench-{n:02d}",
            defaults={"name": f"Bench service {n}", "kind": "service", "environment": "production"},
        )[0]
        for n in range(20)
    ]


def _ci_ids() -> list[int]:
    from cmdb.models import ConfigurationItem

    return list(
        ConfigurationItem.objects.filter(identifier__startswith="bench-0")
        .order_by("identifier")
        .values_list("pk", flat=True)
    )


def _releases(users: dict) -> None:
    """50,000 releases, bulk: states by share, two owners (and some with none), dates over two
    years, 0-7 targets each once past planning, counters that agree with the targets."""
    from django.db import connection
    from django.utils import timezone

    from releases.demo_history import history_categories
    from releases.models import Release, ReleaseTarget

    rng = random.Random(13)
    categories = list(history_categories().values())
    units = _units()
    ci_ids = _ci_ids()
    owners = [users[SECOND["release_manager"]], users[USERS["release_manager"]], None]
    states = [state for state, share in STATES for _ in range(round(share * 1000))]
    now = timezone.now()
    planned_states = {"requested", "planned", "cancelled"}
    for start in range(0, RELEASES, 5000):
        batch, target_counts = [], []
        for n in range(start, min(start + 5000, RELEASES)):
            state = states[rng.randrange(len(states))]
            created = now - timedelta(minutes=21 * (RELEASES - n))  # two years, oldest first
            ended = state in ("closed", "backed_out", "cancelled")
            k = 0 if state in planned_states else rng.randrange(8)
            installed = k if state in ("closed", "installed", "reviewed") else 0
            batch.append(
                Release(
                    number=f"{PREFIX}{n:06d}",
                    title=" ".join(rng.sample(WORDS, 3)).capitalize() + f" {n}",
                    level=("delta", "delta", "package", "full")[n % 4],
                    category=categories[n % len(categories)],
                    release_unit=units[n % len(units)],
                    owner=owners[n % 3],
                    state=state,
                    installation_start=created + timedelta(days=7),
                    installation_end=created + timedelta(days=8),
                    distribution_start=created + timedelta(days=5),
                    distribution_end=created + timedelta(days=7),
                    count_targets=k,
                    count_distributed=k if state not in planned_states else 0,
                    count_installed=installed,
                    count_backed_out=k if state == "backed_out" else 0,
                    outcome={
                        "closed": "completed",
                        "backed_out": "backed_out",
                        "cancelled": "cancelled",
                    }.get(state, ""),
                    ended_at=created + timedelta(days=10) if ended else None,
                    state_changed_at=created + timedelta(days=10 if ended else 1),
                )
            )
            target_counts.append(k)
        created_rows = Release.objects.bulk_create(batch)
        targets = []
        for release, k in zip(created_rows, target_counts, strict=True):
            first = rng.randrange(len(ci_ids))
            done = release.count_installed == k and k
            for j in range(k):
                targets.append(
                    ReleaseTarget(
                        release=release,
                        ci_id=ci_ids[(first + j * 7919) % len(ci_ids)],
                        distribution_state="delivered" if release.count_distributed else "pending",
                        installation_state="succeeded"
                        if done
                        else ("backed_out" if release.state == "backed_out" else "pending"),
                        last_report_at=release.state_changed_at if done else None,
                    )
                )
        ReleaseTarget.objects.bulk_create(targets, batch_size=5000)
    # created_at / updated_at are set by Django on insert: spread them over the two years.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE releases_release SET created_at = installation_start - interval '7 days', "
            "updated_at = state_changed_at WHERE number LIKE %s",
            [f"{PREFIX}%"],
        )


def _big_release(users: dict) -> None:
    """A release installing now on 10,000 targets: 6,000 installed, 500 failed, 1,000 running,
    2,500 scheduled in later waves — each finished one with its distribution and installation
    reports."""
    from django.utils import timezone

    from releases.models import DeploymentReport, Release, ReleaseTarget
    from tests.factories import ReleaseFactory

    now = timezone.now()
    owner = users[USERS["release_manager"]]
    release = ReleaseFactory(
        number=BIG_NUMBER,
        title="Antivirus engine 10,000 workstations",
        state="installing",
        owner=owner,
        release_unit=_units()[0],
        distribution_start=now - timedelta(days=2),
        distribution_end=now - timedelta(days=1),
        installation_start=now - timedelta(hours=6),
        installation_end=now + timedelta(days=1),
        state_changed_at=now - timedelta(hours=6),
        wave_size=500,
        with_plan=True,
    )
    release.targets.all().delete()
    ci_ids = _ci_ids()[:BIG_TARGETS]
    targets = []
    for n, ci_id in enumerate(ci_ids):
        state = (
            "succeeded"
            if n < 6000
            else "failed"
            if n < 6500
            else "running"
            if n < 7500
            else "scheduled"
        )
        reported = now - timedelta(seconds=BIG_TARGETS - n)
        targets.append(
            ReleaseTarget(
                release=release,
                ci_id=ci_id,
                distribution_state="delivered",
                installation_state=state,
                wave=1 + n // 500,
                due_at=now + timedelta(minutes=15 * (n // 500 - 14))
                if state == "scheduled"
                else None,
                dispatched_at=reported if state != "scheduled" else None,
                attempts=1 if state != "scheduled" else 0,
                distributed_at=now - timedelta(days=1),
                installed_at=reported if state == "succeeded" else None,
                last_report_at=reported if state in ("succeeded", "failed") else None,
                detail="exit code 1603" if state == "failed" else "",
            )
        )
    targets = ReleaseTarget.objects.bulk_create(targets, batch_size=5000)
    reports = []
    for target in targets:
        reports.append(
            DeploymentReport(
                target=target, kind="distribution", report_id=f"d-{target.pk}", status="succeeded"
            )
        )
        if target.installation_state in ("succeeded", "failed"):
            reports.append(
                DeploymentReport(
                    target=target,
                    kind="installation",
                    report_id=f"i-{target.pk}",
                    status=target.installation_state,
                    received_at=target.last_report_at,
                )
            )
    DeploymentReport.objects.bulk_create(reports, batch_size=5000)
    Release.objects.filter(pk=release.pk).update(
        count_targets=BIG_TARGETS,
        count_distributed=BIG_TARGETS,
        count_installed=6000,
        count_install_failed=500,
    )


def _backouts(users: dict) -> None:
    """Eight releases whose failure condition was met, waiting for ops to decide."""
    from django.utils import timezone

    from tests.factories import ReleaseFactory

    now = timezone.now()
    for n in range(8):
        ReleaseFactory(
            number=f"{PREFIX}BO-{n}",
            title=f"Back-out waiting {n}",
            state="backout_required",
            owner=users[USERS["release_manager"]],
            release_unit=_units()[n],
            backout_required_at=now - timedelta(minutes=5 + n),
            backout_deadline=now + timedelta(minutes=25 - n),
            backout_condition="Failure rate above 10 %",
            backout_figures={"failed": 3, "attempted": 20},
            state_changed_at=now - timedelta(minutes=5 + n),
            distribution_start=now - timedelta(days=1),
            distribution_end=now - timedelta(hours=2),
            installation_start=now - timedelta(hours=1),
            installation_end=now + timedelta(hours=5),
            with_plan=True,
        )


OPEN = "state=installing&state=distributing&state=backout_required&sort=window"


def pages() -> list[tuple[str, str, str, float]]:
    """(label, path, user, goal p95 in ms) for every page measured."""
    from releases.models import Release

    big = Release.objects.get(number=BIG_NUMBER).pk
    rm, cm = USERS["release_manager"], USERS["configuration_manager"]
    return [
        ("release list, first page", "/releases/", rm, 100),
        ("release list, sorted by update (desc)", "/releases/?sort=-updated", rm, 100),
        ("release list, only mine", "/releases/?mine=1", rm, 100),
        ("release list, search", "/releases/?search=antivirus", rm, 100),
        ("release list, mine, open states, by window", f"/releases/?mine=1&{OPEN}", rm, 100),
        ("release list, page 200", "/releases/?page=200", rm, 100),
        ("CMDB list, first page", "/cmdb/", cm, 100),
        ("CMDB list, workstations", "/cmdb/?kind=workstation", cm, 100),
        ("CMDB list, search", "/cmdb/?search=item%204711", cm, 100),
        ("release page, 10,000 targets", f"/releases/{big}/", rm, 300),
        ("release page, 10,000 targets (ops)", f"/releases/{big}/", USERS["ops"], 300),
        *[(f"dashboard: {role}", "/", name, 300) for role, name in USERS.items()],
    ]


def in_process(rows, cookies, repeat: int) -> dict:
    """``{label: (queries, median ms)}``: each page rendered in this process (test client, the
    base settings), its queries counted once and its time taken ``repeat`` times — the server
    time of one request alone, free of the HTTP path and of queueing behind other requests."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    figures = {}
    for label, path, user, _goal in rows:
        client = Client(HTTP_HOST="localhost")
        client.cookies["sessionid"] = cookies[user]
        client.get(path)  # caches, first session write
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        count = len(queries)  # now: each request of the test client clears the query log
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        figures[label] = (count, statistics.median(times))
    return figures


def _headers(cookies: dict, user: str) -> dict:
    return {"Cookie": f"sessionid={cookies[user]}"}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="per list page")
    parser.add_argument("--detail-requests", type=int, default=48, help="per heavy page")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10, help="in-process renders per page")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", help="measure only the pages whose label contains this")
    args = parser.parse_args()

    # the same key in process (sessions made here) and under gunicorn (which reads them)
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    var_dir = temp_var_dir()
    try:
        setup_django(var_dir)
        from django.conf import settings
        from django.db import connection
        from django.test import Client

        from cmdb.models import ConfigurationItem
        from releases.models import Release, ReleaseTarget
        from tests.factories import UserFactory

        if not settings.USING_POSTGRES:
            raise SystemExit("Run it on PostgreSQL and Redis: see the docstring.")
        build(args.rebuild)
        print(
            f"data: {Release.objects.count():,} releases, {ReleaseTarget.objects.count():,} targets, "
            f"{ConfigurationItem.objects.count():,} CIs"
        )
        cookies = {}
        for name in (*USERS.values(), *SECOND.values()):
            client = Client(HTTP_HOST="localhost")
            client.force_login(UserFactory(username=name))
            cookies[name] = client.cookies["sessionid"].value
        rows = [row for row in pages() if not args.only or args.only in row[0]]
        figures_here = in_process(rows, cookies, args.repeat)
        connection.close()

        with gunicorn(var_dir, workers=args.workers, production=True) as port:
            # the floor: a signed-in page that reads almost nothing (the account page), so
            # the figures below can be read against what this machine serves at best right now
            floor = load(port, "GET", "/accounts/", _headers(cookies, USERS["auditor"]), 100, 4)
            print(
                f"  floor: account page                         p50 {floor['p50_ms']:6.1f} ms  "
                f"p95 {floor['p95_ms']:6.1f} ms  {floor['per_second']:5.0f} req/s",
                flush=True,
            )
            results = []
            for label, path, user, goal in rows:
                headers = _headers(cookies, user)
                total = args.requests if goal <= 100 else args.detail_requests
                load(port, "GET", path, headers, 2 * args.concurrency, args.concurrency)  # warm
                figures = load(port, "GET", path, headers, total, args.concurrency)
                assert set(figures["statuses"]) == {200}, (path, figures["statuses"])
                ok = figures["p95_ms"] < goal
                results.append(ok)
                queries, alone = figures_here[label]
                print(
                    f"{'✔' if ok else '✘'} {label:46} p50 {figures['p50_ms']:6.1f} ms  "
                    f"p95 {figures['p95_ms']:6.1f} ms  {figures['per_second']:5.0f} req/s  "
                    f"(goal p95 < {goal} ms)  |  in process: {alone:5.1f} ms, {queries} queries",
                    flush=True,
                )
        load_average = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"{sum(results)}/{len(results)} goals met; gunicorn {args.workers} workers, "
            f"{args.concurrency} connections; load average {load_average}"
        )
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
