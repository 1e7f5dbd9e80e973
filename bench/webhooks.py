"""Signed webhook deliveries accepted per second (issue: change-management integration).

Generic change events signed with the independent `standardwebhooks` library are POSTed to
`/api/v1/webhooks/<source>/` under gunicorn at concurrency 10; a third of the requests replay an
earlier delivery (same webhook-id and body). In the same run a no-op authenticated endpoint
(`GET /api/v1/me/` with a bearer token) is measured as the ceiling. Afterwards the database must
hold exactly one delivery per distinct webhook-id: zero lost, zero doubled. Processing runs in the
workers, which this benchmark does not start: it measures acceptance (verify, store, answer).

Goal: ≥ 500 deliveries/s, p95 < 50 ms, ≥ 50 % of the ceiling."""

import argparse
import json
import shutil
import time
from datetime import UTC, datetime

from _server import gunicorn, load, setup_django, temp_var_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    var_dir = temp_var_dir()
    try:
        setup_django(var_dir)
        from django.conf import settings
        from django.db import connection
        from standardwebhooks.webhooks import Webhook

        from releasemgmt.accounts.services import api_token_issue
        from releases.models import WebhookDelivery
        from releases.webhooks.services import webhook_source_create
        from tests.factories import UserFactory

        stamp = int(time.time())
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        source, secret = webhook_source_create(
            name=f"bench-{stamp}", adapter="generic", policy="triage"
        )
        signer = Webhook(secret)
        user = UserFactory(username=f"bench-wh-{stamp}", roles=["integration"])
        _, token = api_token_issue(user=user, name=f"bench {stamp}", by=None)

        # Every third request replays the one before it: same id, same body, same signature.
        requests = []
        for i in range(args.deliveries):
            if i % 3 == 2:
                requests.append(requests[-1])
                continue
            body = json.dumps(
                {
                    "type": "change.updated",
                    "timestamp": "2026-11-26T10:00:00Z",
                    "data": {
                        "id": f"b{stamp}-{i}",
                        "number": f"CHG{i:07d}",
                        "title": f"Bench change {i}",
                        "state": "assess",
                    },
                }
            )
            msg_id = f"msg_{stamp}_{i}"
            requests.append((msg_id, body))
        unique = len({msg_id for msg_id, _ in requests})
        connection.close()

        figures = {}
        with gunicorn(var_dir, workers=args.workers) as port:
            ceiling = load(
                port,
                "GET",
                "/api/v1/me/",
                {"Authorization": f"Bearer {token}"},
                args.deliveries,
                args.concurrency,
            )
            figures["ceiling"] = ceiling
            figures["webhooks"] = load(
                port,
                "POST",
                _signed(source.name, requests, signer),
                {"Content-Type": "application/json"},
                len(requests),
                args.concurrency,
            )
        stored = WebhookDelivery.objects.filter(source=source).count()
        distinct = (
            WebhookDelivery.objects.filter(source=source).values("webhook_id").distinct().count()
        )
        c, w = figures["ceiling"], figures["webhooks"]
        print(
            f"database: {database}; gunicorn {args.workers} workers; concurrency {args.concurrency}"
        )
        print(
            f"ceiling  GET /api/v1/me/        {c['per_second']:6.0f} req/s  p50 {c['p50_ms']:5.1f} ms  p95 {c['p95_ms']:5.1f} ms  {c['statuses']}"
        )
        print(
            f"webhooks POST /api/v1/webhooks/ {w['per_second']:6.0f} req/s  p50 {w['p50_ms']:5.1f} ms  p95 {w['p95_ms']:5.1f} ms  {w['statuses']}"
        )
        print(f"share of the ceiling: {100 * w['per_second'] / c['per_second']:.0f} %")
        print(
            f"sent {args.deliveries} ({unique} distinct ids, {args.deliveries - unique} replays); stored {stored}, distinct {distinct}: "
            f"lost {unique - distinct}, doubled {stored - distinct}"
        )
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def _signed(source_name, requests, signer):
    """The i-th delivery, signed when it is sent (the timestamp must be fresh)."""

    def request(index):
        msg_id, body = requests[index]
        now = datetime.now(tz=UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body),
        }
        return f"/api/v1/webhooks/{source_name}/", body, headers

    return request


if __name__ == "__main__":
    main()
