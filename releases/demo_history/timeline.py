"""One simulated release and its timeline up to deployment: what it is (unit, level, title,
trigger, conditions, targets), requested → … → verified, or cancelled on the way."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from cmdb.choices import ERROR_KIND_CATEGORY, ErrorKind, ErrorSource
from releases.choices import (
    DistributionMethod,
    FailureConditionKind,
    InstallationMode,
    ReleaseLevel,
    Trigger,
)
from releases.demo_history.constants import (
    ANTIVIRUS,
    CANCEL_REASONS,
    DS,
    EMERGENCY,
    FAIL_TEST_REASONS,
    HOUR,
    IS,
    REPLAN_REASONS,
    STANDARD,
    S,
)


@dataclass
class SimulatedRelease:
    """One simulated release. Times are offsets in seconds from the moment it was requested
    until ``base`` (that moment) is known; ``_finish`` turns them into datetimes."""

    fields: dict  # Release field values by attname
    transitions: list = field(
        default_factory=list
    )  # (name, source, target, t, by, reason, details)
    # [ci id, distribution state, installation state, wave, due, dispatched, attempts,
    #  distributed, installed, backed out, last report, detail]
    targets: list = field(default_factory=list)
    target_names: dict = field(default_factory=dict)  # ci id -> identifier
    conditions: list = field(default_factory=list)  # (kind, threshold, parameters)
    overrides: list = field(default_factory=list)  # [status, reason, by, at, confirmed by, at]
    errors: list = field(default_factory=list)  # Discrepancy fields, "{number}" to fill in
    change_count: int = 0
    change_type: str = "normal"
    threshold: int = 20  # the failure rate condition's, in per cent
    signal: str = ""  # the health signal declared
    late_allowed: bool = False  # no window condition: an installation may finish after it
    product: str = ""
    endpoints: bool = False
    stop: str | None = None  # the state a cancelled release was cancelled in
    t: float = 0.0  # where the walk to deployment ended
    pace: float = 1.0  # how fast this part of the year moves releases along
    i: float = 0.0  # the installation window's start
    window_length: float = 0.0
    window_end: float = 0.0
    windows: tuple = ()  # a cancelled release's planned windows, as datetimes
    windows_offsets: tuple = ()
    limit: float = math.inf  # now: nothing may happen later
    installed_at: float | None = None
    required: float | None = None  # back-out required at, its deadline, condition, figures
    deadline: float | None = None
    condition: str = ""
    figures: dict = field(default_factory=dict)
    decided: float | None = None
    automatic: bool = False
    ended: float | None = None
    outcome: str = ""
    base: datetime | None = None
    created_at: datetime | None = None
    year_created: int = 0
    number: str = ""
    pk: int | None = None
    override_rows: list = field(default_factory=list)


class TimelineMixin:
    """Planning a release and walking it to ``verified`` (or cancelling it).

    Part of the generator (``_Generator`` in ``generator``): its ``__init__`` sets the state
    these methods use (``rng``, ``users``, ``now``, ``counts`` …)."""

    def _plan(self, release, unit, level, category_name, targets, kind, x) -> None:
        rng = self.rng
        title, product = self._title(unit, level, category_name)
        endpoints = unit.endpoints
        mode = InstallationMode.SCHEDULED
        if kind == "backout_window":
            mode = InstallationMode.CONDITION
        elif not kind.startswith("override"):
            mode = rng.choices(
                [InstallationMode.SCHEDULED, InstallationMode.CONDITION, InstallationMode.MANUAL],
                [60, 30, 10] if endpoints else [80, 0, 20],
            )[0]
        threshold = rng.choice((10, 20, 20, 25))
        conditions = [(FailureConditionKind.FAILURE_RATE_ABOVE, Decimal(threshold), {})]
        late_allowed = kind == "completed" and rng.random() < 0.25
        if kind == "backout_window" or not late_allowed:
            conditions.append((FailureConditionKind.WINDOW_ENDED_WITH_PENDING, None, {}))
        signal = f"{unit.identifier}-synthetic-check"
        if kind == "backout_health" or rng.random() < 0.2:
            conditions.append((FailureConditionKind.HEALTH_SIGNAL_FAILED, None, {"signal": signal}))
        release.conditions = conditions
        release.threshold = threshold
        release.signal = signal
        release.late_allowed = late_allowed
        release.product = product
        release.endpoints = endpoints
        wave_size = 0
        if endpoints and mode == InstallationMode.SCHEDULED and len(targets) > 10:
            wave_size = rng.choice((10, 20, 25, 50))
        release.fields.update(
            title=title,
            level=level,
            category_id=self.categories[category_name].pk
            if category_name in self.categories
            else None,
            release_unit_id=unit.pk,
            owner_id=self.users.release_manager.pk,
            created_by_id=self.users.release_manager.pk,
            backout_decision_minutes=rng.choice((30, 30, 30, 15, 60)),
            distribution_method=DistributionMethod.AGENT_PULL
            if endpoints
            else rng.choice((DistributionMethod.DEPLOYMENT_TOOL, DistributionMethod.AGENT_PULL)),
            installation_mode=mode,
            wave_size=wave_size,
            wave_interval_minutes=rng.choice((15, 30)) if wave_size else 15,
            login_threshold=0,
        )
        if release.fields["distribution_method"] == DistributionMethod.DEPLOYMENT_TOOL:
            release.fields["deployment_tool"] = "Ansible Automation Platform"
        release.targets = [
            # ci, distribution, installation, wave, due, dispatched, attempts, distributed,
            # installed, backed out, last report, detail
            [ci_id, DS.PENDING, IS.PENDING, 1, None, None, 0, None, None, None, None, ""]
            for ci_id, _identifier in targets
        ]
        release.target_names = {ci_id: identifier for ci_id, identifier in targets}
        # What triggered it, and the changes it implements.
        if category_name == ANTIVIRUS:
            trigger, reference, changes = Trigger.VENDOR_UPDATE, "Vendor signature feed", 0
        elif level == ReleaseLevel.PACKAGE:
            trigger, reference, changes = Trigger.CHANGE_REQUEST, "", rng.randint(2, 4)
        else:
            trigger = rng.choices(
                [
                    Trigger.CHANGE_REQUEST,
                    Trigger.PROBLEM,
                    Trigger.PROJECT_MILESTONE,
                    Trigger.VENDOR_UPDATE,
                    Trigger.MANUAL,
                ],
                [82, 6, 5 if level == ReleaseLevel.FULL else 0, 4, 3],
            )[0]
            changes = 1 if trigger == Trigger.CHANGE_REQUEST else 0
            reference = {
                Trigger.PROBLEM: f"PRB{rng.randint(1000, 9999):07d}",
                Trigger.PROJECT_MILESTONE: f"Milestone {rng.randint(1, 6)}",
                Trigger.VENDOR_UPDATE: f"Vendor advisory {rng.randint(2024, 2026)}-{rng.randint(1, 99):02d}",
            }.get(trigger, "")
            if trigger == Trigger.PROJECT_MILESTONE:
                key = f"PRJ-{rng.randint(100, 999)}"
                release.fields.update(
                    project_key=key, project_url=f"https://jira.example.com/browse/{key}"
                )
        release.fields.update(trigger=trigger, trigger_reference=reference)
        release.change_count = changes
        release.change_type = {EMERGENCY: "emergency", STANDARD: "standard"}.get(
            category_name, "normal"
        )

    def _title(self, unit, level, category_name) -> tuple[str, str]:
        rng = self.rng
        products = unit.products or (unit.name,)
        if category_name == ANTIVIRUS:
            return "Endpoint protection definitions {date}", "Endpoint Protection"
        product = rng.choice(products)
        key = (unit.pk, product)
        version = self.versions.setdefault(key, [rng.randint(1, 4), rng.randint(0, 9), 0])
        if level == ReleaseLevel.FULL:
            version[1] += 1
            version[2] = 0
            return f"{unit.name} {version[0]}.{version[1]} (full)", product
        if level == ReleaseLevel.PACKAGE:
            version[1] += 1
            version[2] = 0
            return f"{unit.name} {version[0]}.{version[1]} bundle", product
        version[2] += 1
        label = f"{product} {version[0]}.{version[1]}.{version[2]}"
        return (f"{label} hotfix" if category_name == EMERGENCY else label), product

    # The timeline: offsets in seconds from the moment the release was requested.

    def _step(self, release, name, source, target, t, by=None, reason="", details=None) -> float:
        release.transitions.append((name, source, target, t, by, reason, details or {}))
        return t

    def _walk_to_deployment(self, release, level, kind, x, failing, targets) -> None:
        """requested → … → verified (with failed tests and verification on the way), or up to
        the state a cancelled release was cancelled in."""
        rng = self.rng
        manager = self.users.release_manager
        # Lead times shrink over the year (median about 150 h to 100 h): the process gets faster.
        pace = release.pace = 1.1 - 0.6 * x
        hours = {
            ReleaseLevel.DELTA: (2, 30, 2, 24),
            ReleaseLevel.PACKAGE: (12, 72, 16, 72),
            ReleaseLevel.FULL: (24, 120, 36, 120),
        }[level]

        def gap(a, b):
            return rng.uniform(a, b) * HOUR * pace

        stop = None
        if kind == "cancelled":
            options = [S.REQUESTED, S.PLANNED, S.BUILT, S.TESTING, S.ACCEPTED, S.ROLLOUT_PLANNED]
            weights = [25, 25, 12, 20, 8, 10]
            if failing:
                options.append(S.VERIFICATION_FAILED)
                weights.append(40)
            stop = rng.choices(options, weights)[0]
        release.stop = stop
        t = 0.0
        state = S.REQUESTED

        def go(name, target, at, by=manager, reason="", details=None):
            nonlocal state
            self._step(release, name, state, target, at, by, reason, details)
            state = target
            return state == stop

        if stop == S.REQUESTED:
            release.t = t
            return
        t += gap(hours[0], hours[1])
        cab = "Approved by the CAB." if rng.random() < 0.3 else ""
        if go("plan", S.PLANNED, t, reason=cab):
            release.t = t
            return
        t += gap(1, 24)
        if go("build", S.BUILT, t):
            release.t = t
            return
        fail_tests = rng.random() < {"delta": 0.06, "package": 0.12, "full": 0.18}[level]
        while True:
            t += gap(0.25, 4)
            if go("start_tests", S.TESTING, t):
                release.t = t
                return
            if not fail_tests:
                break
            fail_tests = False
            t += gap(2, 24)
            go("fail_tests", S.BUILT, t, reason=rng.choice(FAIL_TEST_REASONS))
            t += gap(4, 48)  # the fix, then a new test run
        t += gap(hours[2], hours[3])
        if go("accept", S.ACCEPTED, t):
            release.t = t
            return
        t += gap(0.5, 12)
        if go("plan_rollout", S.ROLLOUT_PLANNED, t):
            release.t = t
            return
        t += gap(1, 24)
        verifier = rng.choice((self.users.config_manager, manager))
        checks = 2 * len(targets) + 2
        if failing:
            found = self._verification_errors(release, targets, t)
            go(
                "fail_verification",
                S.VERIFICATION_FAILED,
                t,
                by=None,
                reason=f"{found} of {checks} checks failed (verification run by {verifier.get_username()}).",
                details={"checks": checks, "failed": found},
            )
            if state == stop:
                release.t = t
                return
            t += gap(4, 72)
            if rng.random() < 0.3:
                go("replan", S.PLANNED, t, reason=rng.choice(REPLAN_REASONS))
                t += gap(1, 8)
            go("build", S.BUILT, t)
            t += gap(0.25, 2)
            go("start_tests", S.TESTING, t)
            t += gap(1, 12)
            go("accept", S.ACCEPTED, t)
            t += gap(0.25, 4)
            go("plan_rollout", S.ROLLOUT_PLANNED, t)
            t += gap(0.5, 6)
            for error in release.errors:  # found no more when verified again
                if error["source"] == ErrorSource.VERIFICATION:
                    error["resolved"] = t
                    error["resolution"] = "No longer found when {number} was verified again."
        go("verify", S.VERIFIED, t, by=verifier, details={"checks": checks, "failed": 0})
        release.t = t

    def _verification_errors(self, release, targets, t) -> int:
        rng = self.rng
        # Every failed run recorded at least one error; the rest of the budget goes elsewhere.
        found = min(max(self.verification_budget, 1), rng.choices((1, 2, 3), (55, 30, 15))[0])
        self.verification_budget -= found
        product = release.product
        licence_id, licence_name = rng.choice(self.licences)
        for k in range(found):
            ci_id, identifier = rng.choice(targets)
            kind = rng.choices(
                [
                    ErrorKind.VERSION_MISMATCH,
                    ErrorKind.RETIRED_TARGET,
                    ErrorKind.SEATS_EXCEEDED,
                    ErrorKind.LICENCE_EXPIRED,
                    ErrorKind.LICENCE_MISSING,
                ],
                [50, 15, 15, 10, 10],
            )[0]
            error = self._error_text(kind, identifier, product, licence_name)
            if ERROR_KIND_CATEGORY[kind] == "licence":
                error.update(
                    licence_id=licence_id, ci_id=None, subject=f"{licence_name} for {{number}}"
                )
                fingerprint = f"verification:{{number}}:licence:{kind}:{k}"
            else:
                error["ci_id"] = ci_id
                fingerprint = f"verification:{{number}}:ci={ci_id}:{kind}:{k}"
            error.update(
                source=ErrorSource.VERIFICATION,
                kind=kind,
                reference="{number}",
                fingerprint=fingerprint,
                detected=t,
            )
            release.errors.append(error)
        return found

    def _cancel(self, release, anchor) -> None:
        rng = self.rng
        t = release.t + rng.uniform(2, 7 * 24) * HOUR
        by = rng.choice((self.users.release_manager, self.users.change_manager))
        state = release.transitions[-1][2] if release.transitions else S.REQUESTED
        self._step(release, "cancel", state, S.CANCELLED, t, by, rng.choice(CANCEL_REASONS))
        release.base = anchor - timedelta(seconds=t)
        # The windows it was planned for, never used.
        start = (anchor + timedelta(days=rng.randint(2, 14))).replace(minute=0, second=0)
        release.windows = (start, start + timedelta(hours=20), start + timedelta(hours=22))
        release.window_end = release.windows[2] + timedelta(hours=4)
        release.outcome = "cancelled"
