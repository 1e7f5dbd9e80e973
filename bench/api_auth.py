"""Bearer-token-authenticated requests per second under gunicorn: the ceiling that every API
endpoint of the product is measured against (`GET /api/v1/me/`: token lookup, user, roles).

Also measures `/healthz` (database + broker + heartbeats). Loopback only, bounded in count."""

import argparse
import os
import shutil

from _server import gunicorn, load, setup_django, temp_var_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    var_dir = temp_var_dir()
    try:
        setup_django(var_dir)
        from django.conf import settings

        from releasemgmt.accounts.services import api_token_issue
        from releasemgmt.core.services import heartbeat_record
        from tests.factories import UserFactory

        # No worker or beat runs here: fresh heartbeats make /healthz measure its 200 path.
        heartbeat_record(component="worker")
        heartbeat_record(component="beat")
        user = UserFactory(username="bench", roles=["integration"])
        _, raw = api_token_issue(user=user, name=f"bench-{os.getpid()}", by=None)
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        with gunicorn(var_dir, workers=args.workers) as port:
            load(
                port,
                "GET",
                "/api/v1/me/",
                {"Authorization": f"Bearer {raw}"},
                200,
                args.concurrency,
            )  # warm up
            for label, path, headers in (
                (
                    "GET /api/v1/me/ (bearer token)",
                    "/api/v1/me/",
                    {"Authorization": f"Bearer {raw}"},
                ),
                ("GET /healthz", "/healthz", {}),
            ):
                figures = load(port, "GET", path, headers, args.requests, args.concurrency)
                print(
                    f"{label:34} {database:10} workers={args.workers} c={args.concurrency} "
                    f"n={figures['requests']}  {figures['per_second']:7.0f} req/s  "
                    f"p50 {figures['p50_ms']:5.1f} ms  p95 {figures['p95_ms']:5.1f} ms  {figures['statuses']}"
                )
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
