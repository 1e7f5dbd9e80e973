"""Shared helpers for the benchmarks: a migrated throwaway database, gunicorn on a free port, and
a bounded closed-loop HTTP load generator (loopback only)."""

import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CEILING = ROOT.parent / "shared" / "ceiling"


def bench_env(var_dir: Path, production: bool = False) -> dict:
    """The environment of a benchmark's server. ``production``: the production settings (as a
    deployment runs them: DEBUG off, manifest static files, Redis), over plain HTTP on loopback."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "releasemgmt.settings.base",
        "RELEASEMGMT_VAR_DIR": str(var_dir),
    }
    env.setdefault("API_THROTTLE_USER", "1000000/min")
    if production:
        env.update(
            DJANGO_SETTINGS_MODULE="releasemgmt.settings.production",
            DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_SECURE_SSL_REDIRECT="false",
        )
    return env


def setup_django(var_dir: Path) -> None:
    """Configure Django for the benchmark's database (created if missing) and migrate it."""
    os.environ.update(bench_env(var_dir))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    if settings.USING_POSTGRES:
        _create_postgres_database(settings.DATABASES["default"])
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _create_postgres_database(db: dict) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(var_dir: Path, workers: int = 3, threads: int = 1, production: bool = False):
    """The project under gunicorn on a free port (yields the port). ``production``: under the
    production settings (needs PostgreSQL and Redis), static files collected first."""
    port = free_port()
    env = bench_env(var_dir, production)
    if production:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "releasemgmt.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def load(port: int, method: str, path, headers: dict, total: int, concurrency: int, body=None):
    """Send ``total`` requests from ``concurrency`` keep-alive connections; return figures.

    ``path`` may be a callable taking the request's index and returning ``(path, body)`` or
    ``(path, body, headers)`` (added to ``headers``), for requests that differ (one report per
    target, a signature made at send time). It runs outside the timed part."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local, codes = [], {}
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            extra = {}
            if callable(path):
                url, payload, *more = path(index)
                extra = more[0] if more else {}
            else:
                url, payload = path, body() if callable(body) else body
            started = time.perf_counter()
            conn.request(method, url, body=payload, headers={**headers, **extra})
            response = conn.getresponse()
            response.read()
            local.append(time.perf_counter() - started)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(local)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "statuses": statuses,
    }


def temp_var_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="releasemgmt-bench-"))


@contextmanager
def ceiling(workers: int):
    """The bare Django + DRF ceiling (``../shared/ceiling/run``) on a free port, with its own venv
    and database: yields ``(port, its DRF token, its webhook secret)``; stopped on exit."""
    port = free_port()
    venv = Path(
        os.environ.get("CEILING_VENV", Path(tempfile.gettempdir()) / "releasemgmt-ceiling-venv")
    )
    ours = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "RELEASEMGMT_VAR_DIR")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    out = subprocess.run(
        [str(CEILING / "run"), str(port), str(workers)],
        env={**env, "CEILING_VENV": str(venv)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"token=(\S+) secret=(\S+)", out)
    try:
        yield port, found.group(1), found.group(2)
    finally:
        with contextlib.suppress(OSError, ValueError):  # already gone
            os.killpg(int((venv / "gunicorn.pid").read_text().strip()), signal.SIGTERM)


def side_by_side(measure: dict, rounds: int) -> dict:
    """Run each side's ``measure`` once to warm up, then ``rounds`` times alternately (A B A B);
    returns each side's list of results. ``measure``: ``{side: callable returning a result}``."""
    for run in measure.values():
        run()
    results = {side: [] for side in measure}
    for _ in range(rounds):
        for side, run in measure.items():
            results[side].append(run())
    return results
