"""The webhook pipeline beside a bare ingest (issue 13): signed deliveries taken in, then processed.

Side by side on this machine, in one run:
  A  the ceiling (../shared/ceiling): POST /ingest/ — Standard Webhooks verify + one INSERT;
  B  the project under production settings: POST /api/v1/webhooks/<source>/ (gunicorn), with a
     real `celery worker` and `celery beat` (the Procfile's commands) processing the deliveries.
Both get the same gunicorn worker count and the same load: ../shared/ceiling/webhook_load.py
pre-signs --n generic change events (a third replays an earlier webhook-id) and fires them with
wrk (--duration, --connections). After a warm-up of each side the rounds alternate A B A B.

Figures (the project's as a ratio of the ceiling's ingest rate measured in the same run):
  ingest        requests/s and p99 latency of the project's receiver, while its worker runs;
  lost/doubled  distinct webhook-ids sent vs deliveries stored (wrk stops mid-request: up to
                --connections requests still in flight at the end count as sent, never arrived);
  backlog       distinct deliveries ÷ (first send → last processed_at): how fast the burst is
                through the whole pipeline, measured after the load stops;
  half rate     received → processed p95 (processed_at − received_at) while a paced sender (an
                asyncio open-loop client in this process: request i is due at start + i/rate,
                at most --connections at once) offers half the ceiling's rate.

Goals: ingest ≥ 0.8 × ceiling, p99 < 50 ms, 0 lost, 0 doubled; backlog ≥ 0.5 × ceiling's
ingest rate; half-rate p95 < 2 s.

Run from the repository root (PostgreSQL and Redis running locally, `wrk` installed):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/releasemgmt_bench_hook \\
    REDIS_URL=redis://127.0.0.1:6379/10 .venv/bin/python bench/webhooks.py

Absolute figures on a 2-core machine drift with whatever else runs; the ratios are the result.
The load average is printed at the start and the end."""

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from _server import CEILING, ROOT, bench_env, ceiling, gunicorn, setup_django, temp_var_dir

LOAD = CEILING / "webhook_load.py"
GOALS = {
    "ingest_ratio": 0.8,
    "p99_ms": 50.0,
    "backlog_ratio": 0.5,
    "half_rate_p95_s": 2.0,
}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers, each side")
    parser.add_argument("--n", type=int, default=30000, help="deliveries pre-signed per run")
    parser.add_argument("--duration", default="10s", help="wrk duration per run")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds after the warm-up")
    parser.add_argument("--half-seconds", type=float, default=15.0, help="the paced run's length")
    parser.add_argument(
        "--policy", default="triage", choices=["triage", "auto_release"], help="of the source"
    )
    parser.add_argument(
        "--worker",
        default="--concurrency=2 --pool=prefork",
        help="celery worker options; 'none': no worker and beat (the receiver alone, to diagnose)",
    )
    parser.add_argument(
        "--worker-nice", type=int, default=0, help="run the celery worker under `nice -n N`"
    )
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            sys.exit(f"Set {name}: the production settings run on PostgreSQL and Redis.")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk).")

    load_before = os.getloadavg()
    stamp = int(time.time())
    queue = f"bench-webhooks-{stamp}"
    # one queue and secret key for web, worker and beat; never another deployment's queue
    os.environ.update(
        CELERY_DEFAULT_QUEUE=queue,
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    )
    var_dir = temp_var_dir()
    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    try:
        setup_django(var_dir)
        with (
            ceiling(args.workers) as (ceiling_port, _, secret),
            gunicorn(var_dir, workers=args.workers, production=True) as port,
            celery(var_dir, args, queue),
        ):
            results = run(args, stamp, secret, ceiling_port, port, work)
        report(args, results, load_before, os.getloadavg())
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def celery(var_dir: Path, args, queue: str):
    """A worker (the Procfile's command on the bench's queue) and beat, production settings."""
    if args.worker == "none":
        yield
        return
    env = bench_env(var_dir, production=True)
    nice = ["nice", "-n", str(args.worker_nice)] if args.worker_nice else []
    celery_cmd = [sys.executable, "-m", "celery", "-A", "releasemgmt"]
    logs = var_dir / "celery"
    logs.mkdir(exist_ok=True)
    processes = []
    for name, command in (
        ("worker", [*nice, *celery_cmd, "worker", "--loglevel=WARNING", *args.worker.split()]),
        ("beat", [*celery_cmd, "beat", "--loglevel=WARNING", "--pidfile=", "-s", str(logs / "s")]),
    ):
        log = open(logs / f"{name}.log", "w")  # noqa: SIM115 (closed below)
        command = [*command, "-Q", queue] if name == "worker" else command
        processes.append(
            (
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
                log,
            )
        )
    try:
        yield
    finally:
        for process, log in processes:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def run(args, stamp, secret, ceiling_port, port, work: Path) -> dict:
    from django.db import connection
    from django.db.models import Max

    from releases.models import WebhookDelivery
    from releases.webhooks.services import webhook_source_create

    counter = iter(range(1000))

    def new_source():
        """A source per run (the ceiling's signing secret), so each run's rows are its own."""
        source, _ = webhook_source_create(
            name=f"bench-{stamp}-{next(counter)}",
            adapter="generic",
            policy=args.policy,
            secret=secret,
        )
        return source

    def template(source) -> Path:
        path = work / f"{source.name}.json"
        path.write_text(json.dumps(_event(f"{source.name}-{{{{N}}}}")))
        return path

    def ceiling_run():
        body = work / "ceiling.json"
        body.write_text(json.dumps(_event("ceiling-{{N}}")))
        return _wrk(f"http://127.0.0.1:{ceiling_port}/ingest/", secret, body, args)

    def project_run():
        source = new_source()
        started = datetime.now(tz=UTC)
        figures = _wrk(
            f"http://127.0.0.1:{port}/api/v1/webhooks/{source.name}/",
            secret,
            template(source),
            args,
        )
        # after the load stops: wait for the backlog (the sweeper is the backstop of a lost wake)
        rows = WebhookDelivery.objects.filter(source=source)
        deadline = time.monotonic() + (300 if args.worker != "none" else 0)
        while rows.filter(status="received").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        stored = rows.count()
        last = rows.aggregate(last=Max("processed_at"))["last"]
        figures.update(
            stored=stored,
            distinct_stored=rows.values("webhook_id").distinct().count(),
            unprocessed=rows.filter(status="received").count(),
            failed=rows.filter(status="failed").count(),
            backlog_rps=stored / (last - started).total_seconds() if last else 0.0,
        )
        connection.close()
        return figures

    print("warming up, then A B A B …", flush=True)
    for _ in range(1):  # warm-up of both sides, not counted
        ceiling_run()
        project_run()
    rounds = {"ceiling": [], "project": []}
    for _ in range(args.rounds):
        rounds["ceiling"].append(ceiling_run())
        rounds["project"].append(project_run())
    for side, runs in rounds.items():
        for figures in runs:
            print(side, json.dumps(figures), flush=True)

    ceiling_rps = statistics.mean(r["rps"] for r in rounds["ceiling"])
    rate = ceiling_rps / 2
    print(f"half rate: {rate:.0f} deliveries/s for {args.half_seconds:.0f} s …", flush=True)
    source = new_source()
    paced = asyncio.run(
        _paced(port, source.name, secret, rate, args.half_seconds, args.connections)
    )
    rows = WebhookDelivery.objects.filter(source=source)
    deadline = time.monotonic() + (120 if args.worker != "none" else 0)
    while rows.filter(status="received").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    waits = sorted(
        (processed - received).total_seconds()
        for received, processed in rows.exclude(processed_at=None).values_list(
            "received_at", "processed_at"
        )
    )
    paced.update(
        stored=rows.count(),
        unprocessed=rows.filter(status="received").count(),
        p50_s=_percentile(waits, 0.50),
        p95_s=_percentile(waits, 0.95),
        max_s=waits[-1] if waits else None,
    )
    print("half-rate", json.dumps(paced), flush=True)
    return {"ceiling": rounds["ceiling"], "project": rounds["project"], "half": paced}


def _event(ext: str) -> dict:
    """A generic change event the project's adapter maps (the ceiling takes any JSON)."""
    return {
        "type": "change.approved",
        "timestamp": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "id": ext,
            "number": "CHG{{N}}",
            "title": "Bench change {{N}}",
            "state": "Implement",
            "planned_start": "2026-12-01T20:00:00Z",
        },
    }


def _wrk(url: str, secret: str, body: Path, args) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(LOAD),
            url,
            "--secret",
            secret,
            "--body",
            str(body),
            "--n",
            str(args.n),
            "--duration",
            args.duration,
            "--connections",
            str(args.connections),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


async def _paced(port, source_name, secret, rate, seconds, connections) -> dict:
    """Offer ``rate`` requests/s for ``seconds``: request i is due at start + i/rate (open loop);
    at most ``connections`` requests are in flight, each sender taking the next due one."""
    from standardwebhooks.webhooks import Webhook

    signer = Webhook(secret)
    total = int(rate * seconds)
    now = datetime.now(tz=UTC)
    requests = []
    for i in range(total):
        msg_id = f"msg_half_{i}_{secrets.token_hex(6)}"
        body = json.dumps(_event(f"{source_name}-{i}")).replace("{{N}}", f"{i:07d}")
        head = (
            f"POST /api/v1/webhooks/{source_name}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nConnection: close\r\nContent-Length: {len(body.encode())}\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {int(now.timestamp())}\r\n"
            f"webhook-signature: {signer.sign(msg_id, now, body)}\r\n\r\n"
        )
        requests.append((head + body).encode())
    pending = iter(range(total))
    latencies, statuses, late = [], {}, []
    start = time.perf_counter() + 0.2

    async def sender():
        # gunicorn's sync workers close every connection after its answer: one per request
        for i in pending:
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late.append(-delay)
            sent = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(requests[i])
            answer = await reader.read()
            writer.close()
            latencies.append(time.perf_counter() - sent)
            code = int(answer.split(b" ", 2)[1])
            statuses[code] = statuses.get(code, 0) + 1

    await asyncio.gather(*(sender() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "offered_rps": rate,
        "achieved_rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "http_p99_ms": _percentile(latencies, 0.99) * 1000,
        "late_p95_ms": _percentile(sorted(late), 0.95) * 1000 if late else 0.0,
        "statuses": statuses,
    }


def _percentile(values, fraction):
    if not values:
        return None
    return values[min(len(values) - 1, int(len(values) * fraction))]


def report(args, results, load_before, load_after):
    ceiling_runs, project_runs, half = results["ceiling"], results["project"], results["half"]
    c_rps = statistics.mean(r["rps"] for r in ceiling_runs)
    p_rps = statistics.mean(r["rps"] for r in project_runs)
    c_p99 = max(r["p99_ms"] for r in ceiling_runs)
    p_p99 = max(r["p99_ms"] for r in project_runs)
    lost = sum(r["distinct_ids_sent"] - r["distinct_stored"] for r in project_runs)
    doubled = sum(r["stored"] - r["distinct_stored"] for r in project_runs)
    non_2xx = sum(r["non_2xx"] for r in project_runs)
    unprocessed = sum(r["unprocessed"] for r in project_runs)
    failed = sum(r["failed"] for r in project_runs)
    backlog = statistics.mean(r["backlog_rps"] for r in project_runs)
    in_flight = args.connections * len(project_runs)

    def mark(ok):
        return "✔" if ok else "✘"

    print()
    print(
        f"webhooks side by side: {args.workers} gunicorn workers each, wrk {args.connections} "
        f"connections × {args.duration}, {args.rounds} rounds after a warm-up; "
        f"worker {args.worker!r}{f' nice {args.worker_nice}' if args.worker_nice else ''}, "
        f"policy {args.policy}"
    )
    print(
        "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
    print(f"ceiling POST /ingest/           {c_rps:7.0f} req/s  p99 {c_p99:6.1f} ms")
    print(
        f"project POST /api/v1/webhooks/  {p_rps:7.0f} req/s  p99 {p_p99:6.1f} ms  non-2xx {non_2xx}"
    )
    print(
        f"  {mark(p_rps >= GOALS['ingest_ratio'] * c_rps)} ingest ratio "
        f"{p_rps / c_rps:.2f} (goal ≥ {GOALS['ingest_ratio']})"
    )
    print(f"  {mark(p_p99 < GOALS['p99_ms'])} p99 {p_p99:.1f} ms (goal < {GOALS['p99_ms']:.0f} ms)")
    print(
        f"  {mark(lost <= 0)} lost {lost} (distinct ids sent − stored; up to {in_flight} may be "
        f"requests wrk cut off in flight)"
    )
    print(f"  {mark(doubled == 0)} doubled {doubled}")
    print(
        f"  {mark(backlog >= GOALS['backlog_ratio'] * c_rps)} backlog {backlog:.0f} deliveries/s, "
        f"ratio {backlog / c_rps:.2f} (goal ≥ {GOALS['backlog_ratio']}); "
        f"unprocessed {unprocessed}, failed {failed}"
    )
    p95 = half["p95_s"]
    print(
        f"  {mark(p95 is not None and p95 < GOALS['half_rate_p95_s'])} half rate: offered "
        f"{half['offered_rps']:.0f}/s, achieved {half['achieved_rps']:.0f}/s "
        f"(ratio {half['achieved_rps'] / c_rps:.2f}); received→processed p50 "
        f"{half['p50_s'] or 0:.2f} s, p95 {p95 or 0:.2f} s, max {half['max_s'] or 0:.2f} s "
        f"(goal p95 < {GOALS['half_rate_p95_s']:.0f} s); HTTP p99 {half['http_p99_ms']:.1f} ms, "
        f"unprocessed {half['unprocessed']}"
    )


if __name__ == "__main__":
    main()
