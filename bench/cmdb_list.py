"""The CI list with 50,000 configuration items: the page (`/cmdb/`, signed-in session) and the API
(`/api/v1/cmdb/cis/`), first page under gunicorn — p50/p95 latency — and the number of queries
one request costs, in-process, for page sizes 50 and 500 (it must not change).

The items are bulk-inserted once per database and reused by later runs."""

import argparse
import os
import shutil

from _server import gunicorn, load, setup_django, temp_var_dir

KINDS = [
    ("server", 0.2),
    ("virtual_machine", 0.25),
    ("workstation", 0.4),
    ("laptop", 0.1),
    ("network_device", 0.05),
]


def analyse() -> None:
    """Fresh statistics and visibility map, as autovacuum would have them on a live system."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        if settings.USING_POSTGRES:
            cursor.execute("VACUUM ANALYZE cmdb_configurationitem")
        else:
            cursor.execute("ANALYZE")


def seed(count: int) -> None:
    from cmdb.models import ConfigurationItem
    from dsl_dhs.models import HardwareModel, Location

    if ConfigurationItem.objects.filter(identifier__startswith="bench-").count() == count:
        analyse()
        return
    ConfigurationItem.objects.filter(identifier__startswith="bench-").delete()
    locations = [
        Location.objects.get_or_create(code=code, defaults={"name": code.title()})[0]
        for code in ("bench-north", "bench-south", "bench-hq")
    ]
    model, _ = HardwareModel.objects.get_or_create(
        part_number="BENCH-1", defaults={"manufacturer": "Dell", "name": "Bench", "kind": "server"}
    )
    kinds = [kind for kind, share in KINDS for _ in range(int(share * 100))]
    environments = ["production"] * 6 + ["staging", "test", "development"]
    batch = []
    for n in range(count):
        batch.append(
            ConfigurationItem(
                identifier=f"bench-{n:06d}",
                name=f"Bench item {n}",
                kind=kinds[n % len(kinds)],
                status="retired" if n % 50 == 0 else "active",
                environment=environments[n % len(environments)],
                location=locations[n % 3],
                hardware_model=model,
                owner="Bench team",
                attributes={"serial_number": f"SN{n:07d}", "os": "Debian 12"},
            )
        )
        if len(batch) == 5000:
            ConfigurationItem.objects.bulk_create(batch)
            batch = []
    ConfigurationItem.objects.bulk_create(batch)
    analyse()


def query_counts(session_cookie: str, token: str) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost")
    client.cookies["sessionid"] = session_cookie
    counts = {}
    for size in (50, 500):
        for label, path, extra in (
            ("page", f"/cmdb/?page_size={size}", {}),
            (
                "api",
                f"/api/v1/cmdb/cis/?page_size={size}",
                {"HTTP_AUTHORIZATION": f"Bearer {token}"},
            ),
        ):
            client.get(path, **extra)  # first use of a token/session writes once; measure the next
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path, **extra)
            assert response.status_code == 200, (path, response.status_code)
            counts[(label, size)] = len(queries)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    var_dir = temp_var_dir()
    try:
        setup_django(var_dir)
        from django.conf import settings
        from django.test import Client

        from releasemgmt.accounts.services import api_token_issue
        from tests.factories import UserFactory

        seed(args.items)
        from cmdb.models import ConfigurationItem

        total = ConfigurationItem.objects.count()
        user = UserFactory(username="bench-cmdb", roles=["auditor"])
        _, token = api_token_issue(user=user, name=f"bench-{os.getpid()}", by=None)
        login = Client(HTTP_HOST="localhost")
        login.force_login(user)
        session = login.cookies["sessionid"].value
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]

        counts = query_counts(session, token)
        for (label, size), n in sorted(counts.items()):
            print(f"queries  {label:4} page_size={size:<4} {n}")

        with gunicorn(var_dir, workers=args.workers) as port:
            targets = (
                ("GET /cmdb/ (page, session)", "/cmdb/", {"Cookie": f"sessionid={session}"}),
                (
                    "GET /api/v1/cmdb/cis/ (token)",
                    "/api/v1/cmdb/cis/",
                    {"Authorization": f"Bearer {token}"},
                ),
            )
            for _label, path, headers in targets:
                load(port, "GET", path, headers, 40, args.concurrency)  # warm up
            for label, path, headers in targets:
                figures = load(port, "GET", path, headers, args.requests, args.concurrency)
                print(
                    f"{label:32} {database:10} items={total} workers={args.workers} "
                    f"c={args.concurrency} n={figures['requests']}  {figures['per_second']:6.0f} req/s  "
                    f"p50 {figures['p50_ms']:6.1f} ms  p95 {figures['p95_ms']:6.1f} ms  {figures['statuses']}"
                )
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
