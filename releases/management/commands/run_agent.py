"""The reference agent: what a target's agent does, over HTTP only.

Each poll it sends a heartbeat (with its login count), fetches its work, downloads artefacts from
the DSL and checks their SHA-256 before reporting the distribution, installs (here: waits, then
succeeds or fails at --fail-rate) and backs out when told. Reports carry stable report ids (one
per installation attempt), so a retry after a lost answer has no second effect, while a retried
installation reports anew."""

import hashlib
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from releasemgmt.accounts.services import api_token_issue


class Agent:
    def __init__(
        self,
        *,
        server: str,
        token: str,
        ci: str,
        fail_rate: float,
        logins: int | None,
        work_seconds: float,
        out,
    ):
        self.server, self.token, self.ci = server.rstrip("/"), token, ci
        self.fail_rate, self.logins, self.work_seconds, self.out = (
            fail_rate,
            logins,
            work_seconds,
            out,
        )
        self.random = random.Random(ci)  # noqa: S311 (a simulation's login counts and timings)
        # Whether this CI's installations fail is fixed by its name, so a demo behaves alike on every run.
        self.fails = int(hashlib.sha256(ci.encode()).hexdigest(), 16) % 1000 < fail_rate * 1000

    def call(self, method: str, path: str, body: dict | None = None, *, read=None):
        """``(status, answer)``: the JSON answer, or ``read(response)`` for a 200 — called while
        the response is open (it is closed once this returns)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.server}{path}"
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"Refusing a non-HTTP URL: {url}")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
            url,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (http(s) only, checked above)
                if read is not None:
                    return response.status, read(response)
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (urllib.error.URLError, OSError) as error:  # refused, unknown host, timed out
            reason = getattr(error, "reason", error)
            return 0, {"detail": f"cannot reach {self.server} ({reason})"}

    def report(self, url: str, kind: str, target: int, status: str, detail: str, attempt=None):
        # one id per attempt: a retried installation's result is a new report, not a repeat
        report_id = f"{self.ci}:{target}:{kind}:{status}"
        if attempt and attempt > 1:
            report_id += f":{attempt}"
        code, body = self.call(
            "POST",
            url,
            {"status": status, "detail": detail, "report_id": report_id},
        )
        self.out(
            f"{self.ci}: {kind} {status} for target {target} → {code} {body.get('detail', '')}"
        )

    def download(self, artefact: dict) -> tuple[bool, str]:
        def sha256_of(response) -> str:  # streamed: artefacts can be large
            digest = hashlib.sha256()
            for chunk in iter(lambda: response.read(1 << 16), b""):
                digest.update(chunk)
            return digest.hexdigest()

        code, answer = self.call("GET", artefact["url"], read=sha256_of)
        if code != 200:
            return False, f"download answered {code}: {answer.get('detail', '')}"
        if answer != artefact["sha256"]:
            return False, f"checksum mismatch for {artefact['product']} {artefact['version']}"
        return True, f"{artefact['product']} {artefact['version']} verified"

    def poll(self) -> int:
        logins = self.logins if self.logins is not None else self.random.choice([0, 0, 1, 2, 5])
        self.call(
            "POST",
            "/api/v1/agent/heartbeat/",
            {"ci": self.ci, "login_count": logins, "agent_version": "reference-1"},
        )
        code, work = self.call("GET", f"/api/v1/agent/work/?ci={urllib.parse.quote(self.ci)}")
        if code != 200:
            self.out(f"{self.ci}: work answered {code}: {work.get('detail', '')}")
            return 0
        done = 0
        for item in work["downloads"]:
            results = [self.download(a) for a in item["artefacts"]]
            ok = all(r for r, _ in results)
            self.report(
                item["report"],
                "distribution",
                item["target"],
                "succeeded" if ok else "failed",
                "; ".join(m for _, m in results),
            )
            done += 1
        for item in work["installations"]:
            time.sleep(self.work_seconds * self.random.random())
            failed = self.fails
            self.report(
                item["report"],
                "installation",
                item["target"],
                "failed" if failed else "succeeded",
                "installer exited with code 1603" if failed else "installed",
                attempt=item.get("attempt"),
            )
            done += 1
        for item in work["backouts"]:
            time.sleep(self.work_seconds * self.random.random())
            self.report(
                item["report"], "backout", item["target"], "succeeded", "previous version restored"
            )
            done += 1
        return done


class Command(BaseCommand):
    help = (
        "Run the reference agent for one CI (--ci) or for every target of a release (--release), "
        "against a running server. Polls until Ctrl-C (or once with --once)."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--ci", help="The target's identifier.")
        who.add_argument(
            "--release",
            help="Act as the agents of every target of this release (e.g. REL-2026-0006).",
        )
        who.add_argument(
            "--demo",
            action="store_true",
            help="The demo: the agents of the newest installing release, with a one-day token of the "
            "`integration` user issued here (so --token is not needed).",
        )
        parser.add_argument("--server", default="http://127.0.0.1:8000")
        parser.add_argument("--token", help="A bearer token of an integration account.")
        parser.add_argument(
            "--fail-rate", type=float, default=0.0, help="Share of installations that fail (0–1)."
        )
        parser.add_argument(
            "--logins", type=int, default=None, help="Login count to report (random when omitted)."
        )
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between polls.")
        parser.add_argument(
            "--work-seconds", type=float, default=1.0, help="Longest simulated installation."
        )
        parser.add_argument("--once", action="store_true", help="Poll once and stop.")

    def handle(self, **options):
        if not 0 <= options["fail_rate"] <= 1:
            raise CommandError("--fail-rate is a share between 0 and 1.")
        if options["demo"]:
            options["token"] = options["token"] or self._demo_token()
            options["release"] = self._newest_installing(options)
            self.stdout.write(f"Demo: acting as the agents of {options['release']}.")
        if not options["token"]:
            raise CommandError("Give --token (an integration account's API token).")
        cis = [options["ci"]] if options["ci"] else self._release_targets(options)
        lock = threading.Lock()

        def out(line):
            with lock:
                self.stdout.write(line)

        agents = [
            Agent(
                server=options["server"],
                token=options["token"],
                ci=ci,
                fail_rate=options["fail_rate"],
                logins=options["logins"],
                work_seconds=options["work_seconds"],
                out=out,
            )
            for ci in cis
        ]
        self.stdout.write(
            f"Reference agent for {len(agents)} target(s) on {options['server']}; Ctrl-C stops."
        )
        try:
            while True:
                threads = [threading.Thread(target=agent.poll) for agent in agents]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                if options["once"]:
                    return
                time.sleep(options["interval"])
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")

    def _demo_token(self) -> str:
        user = get_user_model().objects.filter(username="integration").first()
        if user is None:
            raise CommandError("No `integration` user: run `python manage.py seed_demo` first.")
        _, raw = api_token_issue(
            user=user,
            name=f"reference agents {time.strftime('%Y-%m-%d %H:%M:%S')}",
            expires_days=1,
            by=None,
        )
        return raw

    def _newest_installing(self, options) -> str:
        agent = Agent(
            server=options["server"],
            token=options["token"],
            ci="",
            fail_rate=0,
            logins=0,
            work_seconds=0,
            out=print,
        )
        code, body = agent.call(
            "GET", "/api/v1/releases/?state=installing&ordering=-state_changed_at"
        )
        if code == 0:
            raise CommandError(
                f"No server answers at {options['server']}: is `make run` running there? When it "
                "runs on another port, give the same one: `make agents PORT=9000`."
            )
        if code != 200:
            raise CommandError(
                f"The server answered {code}: {body.get('detail', '')} — is `make run` running?"
            )
        if not body.get("results"):
            raise CommandError(
                "No release is installing. `make run` (seed_demo) creates a fresh pilot when none is."
            )
        return body["results"][0]["number"]

    def _release_targets(self, options) -> list[str]:
        agent = Agent(
            server=options["server"],
            token=options["token"],
            ci="",
            fail_rate=0,
            logins=0,
            work_seconds=0,
            out=print,
        )
        code, body = agent.call(
            "GET", f"/api/v1/releases/?search={urllib.parse.quote(options['release'])}"
        )
        if code != 200 or not body.get("results"):
            raise CommandError(
                f"Release {options['release']} not found ({code}): {body.get('detail', '')}"
            )
        release_id = body["results"][0]["id"]
        cis, url = [], f"/api/v1/release-targets/?release={release_id}&page_size=500"
        while url:
            code, page = agent.call("GET", url)
            if code != 200:
                raise CommandError(f"Listing targets answered {code}: {page.get('detail', '')}")
            cis += [row["ci"] for row in page["results"]]
            url = page.get("next")
        return cis
