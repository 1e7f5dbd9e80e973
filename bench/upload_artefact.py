"""Uploading a large DSL artefact through the real HTTP API under gunicorn: the server's memory
stays flat (the body is spooled to a temporary file and hashed in chunks) and the checksum it
stores equals the one computed locally. Then downloads it back (streamed) and checks it again.

The client streams the multipart body from a generated file too, so neither side ever holds the
artefact in memory. Server memory is read from /proc: every gunicorn process's VmRSS is sampled
during the upload, and the VmHWM (peak RSS) of the worker that handled it is reported.
Loopback only. ``--record`` appends the figures to bench/RESULTS.md."""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import shutil
import threading
import time
from pathlib import Path

from _server import ROOT, gunicorn, setup_django, temp_var_dir

CHUNK = 1024 * 1024
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## DSL artefact upload (`bench/upload_artefact.py`)"
SECTION_INTRO = """
`POST /api/v1/dsl/versions/` (multipart: product, version, the artefact and its declared SHA-256)
with a bearer token of a configuration manager, under gunicorn with 2 sync workers; the client
streams the body from a generated file of random bytes. *Worker before* is the handling worker's
RSS just before the upload, *worker peak* its VmHWM (high-water mark) after it, *all processes* the
highest sum of VmRSS over the gunicorn master and workers sampled every 20 ms during the upload.
*Authorise* is `POST …/status/` to authorised, which re-reads the stored file and recomputes its
SHA-256 before accepting; *download* streams the artefact back from `GET …/download/` and re-hashes
it on the client. Memory stays flat: the worker's peak grows by 3–4 MiB for 200 MiB (the body is
spooled to a temporary file in 64 KiB parser chunks and hashed in 1 MiB chunks), whatever the size.

| date | commit | database | artefact | upload | stored SHA-256 = local | worker before | worker peak | all processes | authorise | download |
|---|---|---|---|---|---|---|---|---|---|---|"""


def generate(path: Path, size_mb: int) -> tuple[str, int]:
    """Write ``size_mb`` MiB of random bytes, one chunk at a time; return (sha256, size)."""
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for _ in range(size_mb):
            chunk = os.urandom(CHUNK)
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest(), size_mb * CHUNK


def _proc_status(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure in KiB (VmRSS, VmHWM); 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found


def gunicorn_processes() -> tuple[int, list[int]]:
    """(master, workers) of the gunicorn this script started."""
    for pid in _children(os.getpid()):
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"gunicorn" in handle.read():
                return pid, _children(pid)
    raise RuntimeError("gunicorn master not found")


class Sampler(threading.Thread):
    """Samples the summed VmRSS of the given processes until stopped; keeps the peak."""

    def __init__(self, pids: list[int], interval: float = 0.02):
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.peak_kib = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            total = sum(_proc_status(pid, "VmRSS") for pid in self.pids)
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1
            time.sleep(self.interval)

    def stop(self):
        self._done.set()
        self.join()


def upload(port: int, token: str, fields: dict, path: Path, filename: str) -> tuple[int, dict]:
    """POST a multipart body streamed from ``path`` with an exact Content-Length."""
    boundary = f"----releasemgmt-bench-{os.urandom(8).hex()}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="artefact"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    preamble = "".join(parts).encode()
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    length = len(preamble) + path.stat().st_size + len(epilogue)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", "/api/v1/dsl/versions/")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Accept", "application/json")
    conn.endheaders()
    conn.send(preamble)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            conn.send(chunk)
    conn.send(epilogue)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, json.loads(body or b"{}")


def authorise(port: int, token: str, version_id: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(
        "POST",
        f"/api/v1/dsl/versions/{version_id}/status/",
        body=json.dumps({"status": "authorised"}),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    status = conn.getresponse().status
    conn.close()
    return status


def download(port: int, token: str, version_id: int) -> tuple[int, str, str, int]:
    """Stream the artefact back; return (status, header checksum, computed checksum, bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(
        "GET",
        f"/api/v1/dsl/versions/{version_id}/download/",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/octet-stream"},
    )
    response = conn.getresponse()
    digest = hashlib.sha256()
    size = 0
    while chunk := response.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    conn.close()
    return response.status, response.getheader("X-Checksum-SHA256", ""), digest.hexdigest(), size


def record(row: str) -> None:
    """Append the row under this script's section (appending the section when it is not last)."""
    text = RESULTS.read_text()
    last_section = text.rstrip().rsplit("\n## ", 1)[-1]
    with open(RESULTS, "a") as handle:
        if not ("\n## " + last_section).startswith("\n" + SECTION):
            handle.write(
                ("" if text.endswith("\n") else "\n") + "\n" + SECTION + "\n" + SECTION_INTRO + "\n"
            )
        handle.write(row + "\n")


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=200, help="artefact size in MiB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()

    var_dir = temp_var_dir()
    try:
        setup_django(var_dir)
        from django.conf import settings

        from releasemgmt.accounts.services import api_token_issue
        from tests.factories import SoftwareProductFactory, UserFactory

        user = UserFactory(username="bench-config-manager", roles=["configuration_manager"])
        _, token = api_token_issue(user=user, name=f"bench-{os.getpid()}", by=None)
        product = SoftwareProductFactory(name=f"Bench product {os.getpid()}")
        artefact = var_dir / "artefact.bin"
        local_sha, size = generate(artefact, args.size_mb)
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]

        with gunicorn(var_dir, workers=args.workers) as port:
            master, workers = gunicorn_processes()
            # Warm every worker (imports, URL resolvers, first DB connection) before measuring.
            for _ in range(4 * len(workers)):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request(
                    "GET", "/api/v1/dsl/products/", headers={"Authorization": f"Bearer {token}"}
                )
                conn.getresponse().read()
                conn.close()
            before = {pid: _proc_status(pid, "VmRSS") for pid in workers}
            hwm_before = {pid: _proc_status(pid, "VmHWM") for pid in workers}
            sampler = Sampler([master, *workers])
            sampler.start()
            started = time.perf_counter()
            status, body = upload(
                port,
                token,
                {"product": product.pk, "version": "1.0.0", "sha256": local_sha},
                artefact,
                "bench-artefact.bin",
            )
            upload_seconds = time.perf_counter() - started
            sampler.stop()
            if status != 201:
                raise SystemExit(f"upload answered {status}: {body}")
            hwm_after = {pid: _proc_status(pid, "VmHWM") for pid in workers}
            # The worker that handled the upload is the one whose high-water mark moved most.
            handler = max(
                workers, key=lambda pid: (hwm_after[pid] - hwm_before[pid], hwm_after[pid])
            )

            started = time.perf_counter()
            a_status = authorise(port, token, body["id"])
            authorise_seconds = time.perf_counter() - started
            if a_status != 200:
                raise SystemExit(f"authorising answered {a_status}")

            started = time.perf_counter()
            d_status, header_sha, downloaded_sha, downloaded = download(port, token, body["id"])
            download_seconds = time.perf_counter() - started

        stored_ok = body["sha256"] == local_sha and body["size"] == size
        download_ok = (
            d_status == 200 and header_sha == downloaded_sha == local_sha and downloaded == size
        )
        mb = size / 1024 / 1024
        print(
            f"upload {mb:.0f} MiB to {database}: HTTP {status} in {upload_seconds:.2f} s "
            f"({mb / upload_seconds:.0f} MiB/s); stored sha256 {'==' if stored_ok else '!='} local "
            f"({body['sha256'][:16]}…)\n"
            f"handling worker {handler}: RSS before {mib(before[handler])}, VmHWM after "
            f"{mib(hwm_after[handler])} (was {mib(hwm_before[handler])}); all gunicorn processes "
            f"peak {mib(sampler.peak_kib)} over {sampler.samples} samples\n"
            f"authorise (server re-hashes the stored file): {authorise_seconds:.2f} s\n"
            f"download: HTTP {d_status} in {download_seconds:.2f} s "
            f"({mb / download_seconds:.0f} MiB/s); header == body == local: {download_ok}"
        )
        if not (stored_ok and download_ok):
            raise SystemExit("checksum mismatch")
        if args.record:
            label = "SQLite (embedded)"
            if database == "postgresql":
                from django.db import connection

                label = f"PostgreSQL {connection.pg_version // 10000}"
            row = (
                f"| {datetime.date.today().isoformat()} | dsl-dhs | {label} | {mb:.0f} MiB | "
                f"{upload_seconds:.2f} s ({mb / upload_seconds:.0f} MiB/s) | yes | "
                f"{mib(before[handler])} | {mib(hwm_after[handler])} | {mib(sampler.peak_kib)} | "
                f"{authorise_seconds:.2f} s | {download_seconds:.2f} s, checksum ok |"
            )
            record(row)
            print(f"recorded in {RESULTS.relative_to(ROOT)}")
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
