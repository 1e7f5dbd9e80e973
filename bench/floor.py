"""The request floor and the lists, as ratios of the bare Django + DRF ceiling (issue: performance
measured against a bare ceiling).

Starts the ceiling (``../shared/ceiling/run``: Django + DRF + gunicorn on PostgreSQL, nothing else)
and the project (gunicorn, the same number of sync workers, PostgreSQL, the demo data) side by
side, then measures each pair alternately — project, ceiling, project, ceiling — after a warm-up:

- the cheapest authenticated API call: ``GET /api/v1/me/`` against the ceiling's ``/ping/``
  (goal ≥ 0.7);
- the lists, 50 rows: ``GET /api/v1/releases/`` and ``GET /api/v1/cmdb/cis/`` against the
  ceiling's ``/items/`` (goal ≥ 0.6).

Each figure is requests per second at ``--concurrency`` keep-alive connections; the ratio is the
project's median over the rounds divided by the ceiling's. Absolute figures drift by a third on
these machines within an hour; the ratios, measured side by side, are what to compare.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/releasemgmt_bench_floor \\
       REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/floor.py
Prints each figure; record them in bench/RESULTS.md."""

import argparse
import statistics
import time

from _server import ceiling, gunicorn, load, setup_django, side_by_side, temp_var_dir

PAIRS = [
    ("cheapest authenticated call", "/api/v1/me/", "/ping/", 0.7),
    ("release list, 50 rows", "/api/v1/releases/?page_size=50", "/items/", 0.6),
    ("CI list, 50 rows", "/api/v1/cmdb/cis/?page_size=50", "/items/", 0.6),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=5, help="gunicorn sync workers, both sides")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000, help="per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds per pair")
    args = parser.parse_args()

    var_dir = temp_var_dir()
    setup_django(var_dir)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from releasemgmt.accounts.services import api_token_issue
    from releases.models import Release

    if not (settings.USING_POSTGRES and settings.REDIS_URL):
        raise SystemExit("Run it on PostgreSQL and Redis: set DATABASE_URL and REDIS_URL.")
    if Release.objects.count() < 50:
        call_command("seed_demo", verbosity=0)
    user = get_user_model().objects.get(username="auditor")
    token = api_token_issue(user=user, name=f"bench floor {time.time():.0f}", by=None)[1]

    with (
        ceiling(args.workers) as (ceiling_port, ceiling_token, _),
        gunicorn(var_dir, workers=args.workers, production=True) as port,
    ):
        sides = {
            "project": (port, {"Authorization": f"Bearer {token}"}),
            "ceiling": (ceiling_port, {"Authorization": f"Token {ceiling_token}"}),
        }
        print(
            f"{args.workers} sync workers each, production settings, {args.concurrency} "
            f"connections, {args.requests} requests a measurement, {args.rounds} rounds A B"
        )
        for label, ours, theirs, goal in PAIRS:
            paths = {"project": ours, "ceiling": theirs}

            def measure(side, paths=paths):
                side_port, headers = sides[side]
                result = load(
                    side_port, "GET", paths[side], headers, args.requests, args.concurrency
                )
                assert set(result["statuses"]) == {200}, (side, result["statuses"])
                return result

            figures = side_by_side(
                {side: (lambda side=side: measure(side)) for side in sides}, args.rounds
            )
            project = statistics.median(f["per_second"] for f in figures["project"])
            theirs_rate = statistics.median(f["per_second"] for f in figures["ceiling"])
            p95 = statistics.median(f["p95_ms"] for f in figures["project"])
            ratio = project / theirs_rate
            print(
                f"{label:30} project {project:7.0f}/s (p95 {p95:5.1f} ms)  "
                f"ceiling {theirs_rate:7.0f}/s  ratio {ratio:.2f} (goal ≥ {goal}) "
                f"{'✔' if ratio >= goal else '✘'}"
            )


if __name__ == "__main__":
    main()
