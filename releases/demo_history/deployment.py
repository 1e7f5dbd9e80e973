"""A simulated release's deployment: distribution, installation (waves, conditions, retries),
failure conditions met, back-out decisions (manual, automatic, withdrawn override requests)
and confirmed overrides."""

from __future__ import annotations

import math
from datetime import timedelta

from cmdb.choices import ErrorKind, ErrorSource
from releases.choices import InstallationMode, OverrideStatus
from releases.demo_history.constants import (
    AUTO_REASON,
    DS,
    HOUR,
    IS,
    MINUTE,
    OVERRIDE_REASONS,
    REVIEW_REASONS,
    WITHDRAWN_REASONS,
    S,
)


class DeploymentMixin:
    """Deploying a release and, when a failure condition is met, backing it out or going on.

    Part of the generator (``_Generator`` in ``generator``): its ``__init__`` sets the state
    these methods use (``rng``, ``users``, ``now``, ``counts`` …)."""

    def _deploy(self, release, unit, kind, anchor) -> None:
        rng = self.rng
        manager = self.users.release_manager
        targets = release.targets
        n = len(targets)
        # Distribution starts on the hour (the window's start); installation 22 hours later.
        d = release.t + rng.uniform(2, 36) * HOUR * release.pace
        d = math.ceil(d / HOUR) * HOUR
        i = d + 22 * HOUR
        release.base = anchor - timedelta(seconds=i)
        release.limit = (self.now - release.base).total_seconds() - 10 * MINUTE
        release.windows_offsets = (d, d + 20 * HOUR, i)
        self._step(
            release,
            "distribute",
            S.VERIFIED,
            S.DISTRIBUTING,
            d + rng.uniform(0, 10) * MINUTE,
            manager,
        )
        spread = rng.uniform(0.5, 16) * HOUR
        for target in targets:
            target[1] = DS.DELIVERED
            target[7] = d + rng.uniform(MINUTE, spread)
            target[10] = target[7]
        delivered = max(t[7] for t in targets) + rng.uniform(0.005, 0.08)
        self._step(
            release,
            "complete_distribution",
            S.DISTRIBUTING,
            S.DISTRIBUTED,
            delivered,
            None,
            details={"delivered": n},
        )
        # Installations are scheduled from the moment ``install`` is taken.
        started = i + rng.uniform(0, 10) * MINUTE
        self._step(
            release,
            "install",
            S.DISTRIBUTED,
            S.INSTALLING,
            started,
            manager,
            reason=rng.choice(("", "", "Installation window opened as planned.")),
        )
        length = (
            rng.choice((8, 12, 24, 48)) if release.endpoints else rng.choice((2, 4, 4, 6))
        ) * HOUR
        release.window_length = length
        release.i = i
        mode = release.fields["installation_mode"]
        self._schedule(release, started, mode)
        if kind in ("completed", "backout_health"):
            self._install_all(release, started, allow_retries=True)
            done = self._complete_installation(release)
            if kind == "completed":
                self._review(release, done)
            else:
                met = self._later(release, done, 0.2, 6)
                condition = f"health signal “{release.signal}” failed"
                self._require_backout(release, met, S.INSTALLED, condition, halted=0)
                self._decide_and_back_out(release, met, automatic=False, withdrawn=False)
        elif kind == "backout_window" and n >= 2:
            self._window_ends(release, started)
        else:
            met = self._fail_until_condition(release, started)
            if kind.startswith("override"):
                self._override(release, met, withdrawn_first=kind == "override_withdrawn")
            else:
                self._decide_and_back_out(
                    release,
                    met,
                    automatic=kind == "backout_auto",
                    withdrawn=kind == "backout_withdrawn",
                )

    def _schedule(self, release, start, mode) -> None:
        """What ``schedule_installations`` gives the targets at ``install``."""
        targets = release.targets
        if mode == InstallationMode.CONDITION:
            for target in targets:
                target[2] = IS.WAITING
            return
        if mode == InstallationMode.MANUAL:
            return
        size = release.fields["wave_size"] or len(targets) or 1
        interval = release.fields["wave_interval_minutes"] * MINUTE
        for index, target in enumerate(targets):
            wave = index // size + 1
            target[2], target[3], target[4] = IS.SCHEDULED, wave, start + interval * (wave - 1)

    def _dispatch_time(self, release, target, start) -> float:
        rng = self.rng
        mode = release.fields["installation_mode"]
        if mode == InstallationMode.SCHEDULED and target[4] is not None:
            return max(target[4], start) + rng.uniform(5, 59)  # the picker runs every minute
        if mode == InstallationMode.CONDITION:
            return start + rng.uniform(0.02, 0.6) * release.window_length
        return start + rng.uniform(0.02, 0.4) * release.window_length  # a manual trigger

    def _duration(self, release) -> float:
        return self.rng.uniform(2, 12 if release.endpoints else 25) * MINUTE

    def _install_all(self, release, start, *, allow_retries) -> None:
        """Every target installs; a few fail first and succeed on a manual retry (never so many
        at once that the failure rate would cross its threshold)."""
        rng = self.rng
        targets = release.targets
        n = len(targets)
        retries = 0
        if allow_retries:
            limit = math.floor(release.threshold * n / 100)
            retries = min(limit, sum(1 for _ in range(n) if rng.random() < 0.03))
        retrying = set(rng.sample(range(n), retries))
        for index, target in enumerate(targets):
            dispatched = self._dispatch_time(release, target, start)
            finished = dispatched + self._duration(release)
            if index in retrying:
                dispatched = finished + rng.uniform(10, 60) * MINUTE  # install now, by hand
                finished = dispatched + self._duration(release)
                target[6] = 2
            else:
                target[6] = 1
            target[2], target[5], target[8] = IS.SUCCEEDED, dispatched, finished
            target[10], target[11] = finished, "installed"
        end = max(t[8] for t in targets) + rng.uniform(10, 90) * MINUTE
        planned = release.i + release.window_length
        release.window_end = math.ceil(max(end, planned) / HOUR) * HOUR
        if release.late_allowed and rng.random() < 0.5:
            # No window condition declared: an installation or two finished after the window.
            late = rng.sample(targets, min(n, rng.randint(1, max(2, n // 12))))
            for target in late:
                target[5] = release.window_end - rng.uniform(1, 10) * MINUTE
                target[8] = release.window_end + rng.uniform(1, 40) * MINUTE
                target[10] = target[8]

    def _complete_installation(self, release) -> float:
        done = max(t[8] for t in release.targets) + self.rng.uniform(0.005, 0.08)
        self._step(
            release,
            "complete_installation",
            S.INSTALLING,
            S.INSTALLED,
            done,
            None,
            details={"installed": len(release.targets)},
        )
        release.installed_at = done
        return done

    def _review(self, release, done) -> None:
        rng = self.rng
        manager = self.users.release_manager
        reviewed = self._later(release, done, 2, 72)
        self._step(
            release,
            "review",
            S.INSTALLED,
            S.REVIEWED,
            reviewed,
            manager,
            rng.choice(REVIEW_REASONS),
        )
        release.ended = reviewed
        release.outcome = "completed"
        self._step(
            release, "close", S.REVIEWED, S.CLOSED, self._later(release, reviewed, 0.2, 48), manager
        )

    def _later(self, release, t, low, high) -> float:
        """Some hours after ``t`` — sooner for the latest releases, so nothing happens after now."""
        rng = self.rng
        return t + min(rng.uniform(low, high) * HOUR, (release.limit - t) * rng.uniform(0.3, 0.6))

    def _fail_until_condition(self, release, start) -> float:
        """Installations run until the failure rate crosses its threshold; the not yet started
        ones are then halted. Returns the moment the condition was met."""
        rng = self.rng
        targets = release.targets
        n = len(targets)
        failures = math.floor(release.threshold * n / 100) + 1
        if release.fields["installation_mode"] == InstallationMode.SCHEDULED:
            # whole waves ran; the next wave was not due yet when the condition was met
            size = release.fields["wave_size"] or n
            ran = targets[: min(n, math.ceil(failures / size) * size)]
        else:
            ran = rng.sample(targets, rng.randint(failures, n))
        for target in ran:
            target[5] = self._dispatch_time(release, target, start)
            target[8] = target[5] + self._duration(release)  # reported at, for now
            target[6] = 1
        ran.sort(key=lambda target: target[8])
        # The last report is the failure that crossed the threshold.
        failed = {id(ran[-1])} | {id(t) for t in rng.sample(ran[:-1], failures - 1)}
        for target in ran:
            reported = target[8]
            target[10] = reported
            if id(target) in failed:
                target[2], target[8], target[11] = (
                    IS.FAILED,
                    None,
                    "exit code 1603: fatal error during installation",
                )
            else:
                target[2], target[11] = IS.SUCCEEDED, "installed"
        met = ran[-1][10] + rng.uniform(0.005, 0.05)
        halted = 0
        for target in targets:
            if target[2] in (IS.PENDING, IS.SCHEDULED, IS.WAITING):
                target[2] = IS.HALTED
                halted += 1
        rate = round(100 * failures / n, 2)
        condition = f"failure rate {rate}% is above {release.threshold:.2f}%"
        self._require_backout(release, met, S.INSTALLING, condition, halted=halted)
        release.window_end = math.ceil((release.i + release.window_length) / HOUR) * HOUR
        return met

    def _window_ends(self, release, start) -> None:
        """Condition mode: some targets never reported few enough logins; the watchdog finds the
        window ended with them not installed."""
        rng = self.rng
        targets = release.targets
        n = len(targets)
        end = math.ceil((release.i + release.window_length) / HOUR) * HOUR
        release.window_end = end
        installed = rng.sample(targets, rng.randint(1, n - 1))
        for target in installed:
            target[5] = start + rng.uniform(0.02, 0.7) * release.window_length
            target[8] = target[5] + self._duration(release)
            target[2], target[6], target[10], target[11] = IS.SUCCEEDED, 1, target[8], "installed"
        halted = 0
        for target in targets:
            if target[2] == IS.WAITING:
                target[2] = IS.HALTED
                halted += 1
        met = end + rng.uniform(5, 59)
        condition = f"the installation window ended with {halted} of {n} targets not installed"
        self._require_backout(release, met, S.INSTALLING, condition, halted=halted)
        self._decide_and_back_out(release, met, automatic=False, withdrawn=False)

    def _figures(self, release) -> dict:
        targets = release.targets
        n = len(targets)
        installed = sum(1 for t in targets if t[8] is not None)
        failed = sum(1 for t in targets if t[2] == IS.FAILED)
        return {
            "targets": n,
            "distributed": n,
            "distribution_failed": 0,
            "installed": installed,
            "installation_failed": failed,
            "failure_rate_percent": round(100 * failed / n, 2) if n else 0.0,
        }

    def _require_backout(self, release, met, source, condition, *, halted) -> None:
        figures = {**self._figures(release), "halted": halted}
        self._step(
            release,
            "require_backout",
            source,
            S.BACKOUT_REQUIRED,
            met,
            None,
            f"Failure condition met: {condition}.",
            figures,
        )
        release.required = met
        release.deadline = met + release.fields["backout_decision_minutes"] * MINUTE
        release.condition = condition[:300]
        release.figures = figures

    def _decide_and_back_out(self, release, met, *, automatic, withdrawn) -> None:
        rng = self.rng
        minutes = release.fields["backout_decision_minutes"]
        ops = list(self.users.ops)
        rng.shuffle(ops)
        if withdrawn:
            asked = met + rng.uniform(1, 0.3 * minutes) * MINUTE
            release.overrides.append(
                [OverrideStatus.WITHDRAWN, rng.choice(WITHDRAWN_REASONS), ops[0], asked, None, None]
            )
        if automatic:
            decided = release.deadline + rng.uniform(5, 55)
            self._step(
                release,
                "approve_backout",
                S.BACKOUT_REQUIRED,
                S.BACKING_OUT,
                decided,
                None,
                AUTO_REASON,
            )
            release.automatic = True
        else:
            decided = met + rng.uniform(0.4 if withdrawn else 0.05, 0.9) * minutes * MINUTE
            self._step(
                release, "approve_backout", S.BACKOUT_REQUIRED, S.BACKING_OUT, decided, ops[-1]
            )
        release.decided = decided
        touched = [t for t in release.targets if t[2] in (IS.RUNNING, IS.SUCCEEDED, IS.FAILED)]
        failed_backout = None
        if len(touched) >= 2 and rng.random() < 0.2:
            failed_backout = rng.choice(touched)
        last = decided
        for target in touched:
            reported = decided + rng.uniform(2, 45) * MINUTE
            last = max(last, reported)
            target[10] = reported
            if target is failed_backout:
                target[2], target[11] = (
                    IS.BACKOUT_FAILED,
                    "restore failed: previous version not in the local cache",
                )
                self._backout_failed_error(release, target, reported)
            else:
                target[2], target[9], target[11] = (
                    IS.BACKED_OUT,
                    reported,
                    "previous version restored",
                )
        restored = sum(1 for t in touched if t[2] == IS.BACKED_OUT)
        details = {"restored": restored, "failed": len(touched) - restored}
        if not touched:
            details = {"targets": 0}
        ended = last + rng.uniform(0.005, 0.08)
        self._step(
            release, "complete_backout", S.BACKING_OUT, S.BACKED_OUT, ended, None, details=details
        )
        release.ended = ended
        release.outcome = "backed_out"
        self._step(
            release,
            "close",
            S.BACKED_OUT,
            S.CLOSED,
            self._later(release, ended, 2, 72),
            self.users.release_manager,
            "Backed out; the causes are followed up in a problem record.",
        )

    def _backout_failed_error(self, release, target, at) -> None:
        identifier = release.target_names[target[0]]
        resolved = at + self.rng.uniform(2, 96) * HOUR
        release.errors.append(
            {
                "source": ErrorSource.AGENT_REPORT,
                "kind": ErrorKind.VERSION_MISMATCH,
                "subject": f"{identifier}: back-out of {{number}} failed",
                "expected": "the version recorded before the release, restored",
                "found": target[11],
                "ci_id": target[0],
                "reference": "{number}",
                "fingerprint": f"backout_failed:{{number}}:ci={target[0]}",
                "detected": at,
                "resolved": resolved,
                "resolution": "Restored by hand from the DSL; the CMDB shows the previous version.",
                "resolved_by": self.users.config_manager.pk,
            }
        )

    def _override(self, release, met, *, withdrawn_first) -> None:
        """Two ops people agree to go on: one asks with a reason, the other confirms before the
        deadline; the halted targets are scheduled again and the failed ones retried by hand."""
        rng = self.rng
        minutes = release.fields["backout_decision_minutes"]
        asker, confirmer = rng.sample(list(self.users.ops), 2)
        asked = met + rng.uniform(1, 0.25 * minutes) * MINUTE
        if withdrawn_first:
            release.overrides.append(
                [
                    OverrideStatus.WITHDRAWN,
                    rng.choice(WITHDRAWN_REASONS),
                    confirmer,
                    asked,
                    None,
                    None,
                ]
            )
            asked += rng.uniform(1, 0.2 * minutes) * MINUTE
        confirmed = asked + rng.uniform(1, 0.4 * minutes) * MINUTE
        reason = rng.choice(OVERRIDE_REASONS)
        release.overrides.append(
            [OverrideStatus.CONFIRMED, reason, asker, asked, confirmer, confirmed]
        )
        self._step(
            release,
            "override_backout",
            S.BACKOUT_REQUIRED,
            S.INSTALLING,
            confirmed,
            confirmer,
            f"Override requested by {asker.get_username()}: {reason}",
            {"override": len(release.overrides) - 1},
        )
        release.decided = confirmed
        # Halted targets go back to pending and are scheduled again from now, in new waves.
        resumed = [t for t in release.targets if t[2] == IS.HALTED]
        size = release.fields["wave_size"] or len(resumed) or 1
        interval = release.fields["wave_interval_minutes"] * MINUTE
        for index, target in enumerate(resumed):
            wave = index // size + 1
            target[3], target[4] = wave, confirmed + interval * (wave - 1)
            target[5] = target[4] + rng.uniform(5, 59)
            target[8] = target[5] + self._duration(release)
            target[2], target[6], target[10], target[11] = IS.SUCCEEDED, 1, target[8], "installed"
        for target in release.targets:
            if target[2] == IS.FAILED:  # retried by hand
                target[5] = confirmed + rng.uniform(5, 30) * MINUTE
                target[8] = target[5] + self._duration(release)
                target[2], target[6], target[10], target[11] = (
                    IS.SUCCEEDED,
                    target[6] + 1,
                    target[8],
                    "installed",
                )
        last = max(t[8] for t in release.targets)
        release.window_end = max(release.window_end, math.ceil((last + 30 * MINUTE) / HOUR) * HOUR)
        done = self._complete_installation(release)
        self._review(release, done)
