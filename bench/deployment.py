"""Deployment at scale (issue: verification, distribution, installation and enforced back-out).

1. A release with 10,000 targets: set the targets, verify (1,000 licences in the CMDB, 10,000
   installations of the replaced version), schedule the installations — time and query count.
2. 10,000 installation reports through the HTTP API under gunicorn, with the failure-condition
   evaluation on: reports/s and p95 (goal ≥ 300/s on 2 cores).
3. The report that crosses the threshold → backout_required with every pending install halted:
   how long it takes (goal < 1 s).

Run it on PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/releasemgmt_bench_deploy"""

import argparse
import json
import shutil
import time
from datetime import timedelta

from _server import gunicorn, load, setup_django, temp_var_dir


def timed(label, func, queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - started
    queries[label] = len(ctx.captured_queries)
    print(f"{label:58} {elapsed * 1000:9.0f} ms  {len(ctx.captured_queries):5} queries")
    return result, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--licences", type=int, default=1_000)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)."
    )
    parser.add_argument(
        "--probe", action="store_true", help="Also time a few reports at concurrency 1 and 3 first."
    )
    args = parser.parse_args()

    var_dir = temp_var_dir()
    try:
        setup_django(var_dir)
        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from cmdb.models import ConfigurationItem, InstalledSoftware, Licence
        from dsl_dhs.models import LicenceProduct
        from releasemgmt.accounts.services import api_token_issue
        from releases import services
        from releases.choices import ReleaseState
        from releases.models import Release, ReleaseTarget
        from releases.services import installation
        from releases.services.reports import target_report
        from tests.factories import (
            ConfigurationItemFactory,
            ReleaseFactory,
            SoftwareProductFactory,
            SoftwareVersionFactory,
            UserFactory,
        )

        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        stamp = int(time.time())
        print(f"database: {database}, {args.targets:,} targets, {args.licences:,} licences")

        # given: the estate
        lp = LicenceProduct.objects.create(name=f"Bench licence {stamp}")
        product = SoftwareProductFactory(name=f"Bench agent {stamp}", licence_product=lp)
        old = SoftwareVersionFactory(product=product, version="1.0")
        new = SoftwareVersionFactory(product=product, version="2.0")
        Licence.objects.bulk_create(
            [
                Licence(
                    licence_product=lp, name=f"Bench {stamp} #{n}", metric="per_device", seats=20
                )
                for n in range(args.licences)
            ]
        )
        licences = list(Licence.objects.filter(licence_product=lp).values_list("pk", flat=True))
        cis = ConfigurationItem.objects.bulk_create(
            [
                ConfigurationItem(
                    identifier=f"b{stamp}-{n:06d}", name=f"bench {n}", kind="workstation"
                )
                for n in range(args.targets)
            ],
            batch_size=2000,
        )
        now = timezone.now()
        InstalledSoftware.objects.bulk_create(
            [
                InstalledSoftware(
                    ci=ci,
                    product=product,
                    version=old,
                    licence_id=licences[n % len(licences)],
                    installed_at=now,
                )
                for n, ci in enumerate(cis)
            ],
            batch_size=2000,
        )
        manager = UserFactory(
            username=f"bench-rm-{stamp}", roles=["release_manager", "configuration_manager"]
        )
        release = ReleaseFactory(
            number=f"B{stamp}-1",
            state=ReleaseState.REQUESTED,
            release_unit=ConfigurationItemFactory(service=True, identifier=f"bench-unit-{stamp}"),
            installation_start=now - timedelta(minutes=1),
            installation_end=now + timedelta(days=1),
            distribution_start=now - timedelta(hours=1),
            distribution_end=now + timedelta(hours=12),
            with_plan=False,
            wave_size=0,  # one wave: the picker releases every installation at once
            wave_interval_minutes=0,
        )
        services.release_item_add(
            release=release,
            by=manager,
            software_version=new,
            replaces_version=old,
            restore_version=old,
        )
        release.failure_conditions.create(kind="failure_rate_above", threshold=20)
        queries = {}

        # 1. targets, verification, scheduling
        timed(
            f"set {args.targets:,} targets",
            lambda: services.release_targets_set(release=release, cis=cis, by=manager),
            queries,
        )
        Release.objects.filter(pk=release.pk).update(state=ReleaseState.ROLLOUT_PLANNED)
        timed(
            f"verify ({args.licences:,} licences, {args.targets:,} installations)",
            lambda: services.release_transition(release=release.pk, name="verify", by=manager),
            queries,
        )
        print(f"  verification: {Release.objects.get(pk=release.pk).state}")
        Release.objects.filter(pk=release.pk).update(
            state=ReleaseState.DISTRIBUTED, count_distributed=args.targets
        )
        ReleaseTarget.objects.filter(release=release).update(distribution_state="delivered")
        timed(
            "install → schedule the waves",
            lambda: services.release_transition(release=release.pk, name="install", by=manager),
            queries,
        )
        timed(
            "picker: release every due installation",
            lambda: installation.installations_dispatch_due(limit=args.targets),
            queries,
        )

        # 2. reports through HTTP under gunicorn (failures kept under the threshold)
        integration = UserFactory(username=f"bench-agent-{stamp}", roles=["integration"])
        _, raw = api_token_issue(user=integration, name=f"bench {stamp}", by=None)
        target_ids = list(
            ReleaseTarget.objects.filter(release=release)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        reports = min(args.reports, len(target_ids))
        connection.close()

        def request(i):
            status = (
                "failed" if i % 10 == 0 else "succeeded"
            )  # 10 % failures: below the 20 % threshold
            body = json.dumps({"status": status, "report_id": f"bench-{i}", "detail": "bench"})
            return f"/api/v1/release-targets/{target_ids[i]}/installation/", body

        headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}
        with gunicorn(var_dir, workers=args.workers, threads=args.threads) as port:
            if args.probe:
                for c in (1, 3):
                    probe = load(
                        port,
                        "POST",
                        lambda i, c=c: request(len(target_ids) - 1 - i - 10 * c),
                        headers,
                        20,
                        c,
                    )
                    print(
                        f"  probe c={c}: {probe['per_second']:.0f}/s p50 {probe['p50_ms']:.1f} ms {probe['statuses']}"
                    )
            figures = load(port, "POST", request, headers, reports, args.concurrency)
            # the same machine's ceiling in the same run: an authenticated no-op (token and
            # permissions, no writes), so the figure above can be read against it
            ceiling = load(
                port, "GET", "/api/v1/me/", headers, min(reports, 3000), args.concurrency
            )
        print(
            f"ceiling GET /api/v1/me/: {ceiling['per_second']:.0f} req/s, p95 {ceiling['p95_ms']:.1f} ms; "
            f"reports at {100 * figures['per_second'] / ceiling['per_second']:.0f} % of it"
        )
        print(
            f"{reports:,} installation reports over HTTP (gunicorn {args.workers} workers × {args.threads} threads, c={args.concurrency}): "
            f"{figures['per_second']:.0f} reports/s, p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, {figures['statuses']}"
        )

        # 3. the report that crosses the threshold: halt every pending installation
        release2 = ReleaseFactory(
            number=f"B{stamp}-2",
            state=ReleaseState.INSTALLING,
            release_unit=release.release_unit,
            with_plan=False,
            installation_start=now,
            installation_end=now + timedelta(days=1),
        )
        release2.failure_conditions.create(kind="failed_targets_at_least", threshold=1)
        ReleaseTarget.objects.bulk_create(
            [ReleaseTarget(release=release2, ci=ci, installation_state="scheduled") for ci in cis],
            batch_size=2000,
        )
        Release.objects.filter(pk=release2.pk).update(count_targets=len(cis))
        first = ReleaseTarget.objects.filter(release=release2).order_by("pk").first()
        ReleaseTarget.objects.filter(pk=first.pk).update(installation_state="running")
        timed(
            f"report crossing the threshold → backout_required, {args.targets - 1:,} halted",
            lambda: target_report(
                target_id=first.pk, kind="installation", status="failed", report_id="cross"
            ),
            queries,
        )
        release2.refresh_from_db()
        print(f"  state: {release2.state}; halted: {release2.backout_figures.get('halted')}")
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
