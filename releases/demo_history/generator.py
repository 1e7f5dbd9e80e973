"""``history_generate``: plan the whole span (when each release happened and how it ended),
simulate the releases a chunk at a time and write each chunk; then the errors found outside
releases."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone

from cmdb.models import Discrepancy, Licence
from releases.choices import ReleaseLevel
from releases.demo_history.constants import (
    ANTIVIRUS,
    CHUNK,
    EMERGENCY,
    HISTORY_SOURCE,
    JIRA_SOURCE,
    LICENCE_NAMES,
    STANDARD,
)
from releases.demo_history.deployment import DeploymentMixin
from releases.demo_history.errors import ErrorsMixin
from releases.demo_history.estate import HistoryUnit, HistoryUsers, history_categories
from releases.demo_history.timeline import SimulatedRelease, TimelineMixin
from releases.demo_history.writing import WritingMixin
from releases.models import ChangeRequest, ReleaseCategory, ReleaseNumberSequence


def history_generate(
    *,
    releases: int,
    targets_per_release: tuple[int, int],
    errors: int,
    months: int,
    seed: int,
    users: HistoryUsers,
    units: list[HistoryUnit],
    categories: dict[str, ReleaseCategory] | None = None,
    licences: list[tuple[int, str]] | None = None,
    automatic_backouts: int = 1,
    now: datetime | None = None,
    progress=None,
) -> dict:
    """Write ``releases`` ended releases over the last ``months`` months (more in later months,
    back-outs falling from about 6 % to 2.5 % of the deployed ones, ~5 % cancelled), each with
    its timeline, ``targets_per_release`` targets (at most as many as its unit has), change
    requests, failure conditions and back-out plan; a handful of back-out overrides (a couple
    withdrawn); exactly ``automatic_backouts`` back-outs that started by themselves; and
    ``errors`` CMDB and licence errors found by every source, most resolved. The release number
    sequence is moved past every number used. Runs in the caller's transaction (one is wanted:
    the sequence rows are locked). Returns the counts written."""
    if not units:
        raise ValueError("No release unit with targets: create a CMDB first (history_estate).")
    generator = _Generator(
        releases=releases,
        targets_per_release=targets_per_release,
        errors=errors,
        months=months,
        rng=random.Random(seed),  # noqa: S311 — made-up demo data, not secrets
        users=users,
        units=units,
        categories=categories or history_categories(),
        licences=licences
        if licences is not None
        else list(Licence.objects.order_by("pk").values_list("pk", "name")),
        automatic_backouts=automatic_backouts,
        now=now or timezone.now(),
        progress=progress,
    )
    return generator.run()


class _Generator(TimelineMixin, DeploymentMixin, WritingMixin, ErrorsMixin):
    """One run of ``history_generate``: its parameters and running state. Simulating a release
    and writing the rows are mixed in from ``timeline``, ``deployment``, ``writing`` and
    ``errors``."""

    def __init__(
        self,
        *,
        releases,
        targets_per_release,
        errors,
        months,
        rng,
        users,
        units,
        categories,
        licences,
        automatic_backouts,
        now,
        progress,
    ):
        self.n = releases
        self.lo, self.hi = targets_per_release
        self.error_total = errors
        self.rng = rng
        self.users = users
        self.units = units
        self.unit_weights = [u.weight for u in units]
        self.endpoint_units = [u for u in units if u.endpoints]
        self.categories = categories
        self.licences = licences or [(None, name) for name in LICENCE_NAMES]
        self.automatic = automatic_backouts
        self.now = now.replace(microsecond=0)
        self.progress = progress or (lambda text: None)
        # Installations start at least three days ago, so that they, their reviews and their
        # closures are all past.
        self.end = (self.now - timedelta(days=3)).replace(minute=0, second=0)
        first = self.now.date().replace(day=1)
        for _ in range(months):
            first = (first - timedelta(days=1)).replace(day=1)
        self.start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        self.versions: dict[tuple, list[int]] = {}
        self.counts = {
            "releases": 0,
            "completed": 0,
            "backed_out": 0,
            "cancelled": 0,
            "automatic_backouts": 0,
            "overrides_confirmed": 0,
            "overrides_withdrawn": 0,
            "transitions": 0,
            "targets": 0,
            "change_requests": 0,
            "errors": 0,
        }
        self.is_postgres = connection.vendor == "postgresql"

    # Planning the whole span: when each release happened and how it ended.

    def _anchors(self) -> list[float]:
        """Installation starts (cancellations for cancelled ones) as fractions of the span, more
        in later months: density 1 + x (the last month has about twice the first's)."""
        trend = 1.0
        anchors = []
        for _ in range(self.n):
            u = self.rng.random()
            anchors.append((-1 + math.sqrt(1 + 2 * trend * u * (1 + trend / 2))) / trend)
        anchors.sort()
        return anchors

    def _outcomes(self, anchors: list[float]) -> list[str]:
        """How each release ends, with exact counts: ~5 % cancelled, the back-outs (their
        cause, the automatic ones, one after a withdrawn override request) and the completed
        releases that went on after a confirmed override."""
        rng, n = self.rng, self.n
        kinds = ["completed"] * n
        cancelled = set(rng.sample(range(n), round(n * 0.05)))
        for i in cancelled:
            kinds[i] = "cancelled"
        deployed = [i for i in range(n) if i not in cancelled]
        # Back-outs fall from 6 % to 2.5 % over the span: exact per twelfth, remainders carried.
        backouts, carry = [], 0.0
        for part in range(12):
            bucket = deployed[part * len(deployed) // 12 : (part + 1) * len(deployed) // 12]
            expected = sum(0.06 - 0.035 * anchors[i] for i in bucket) + carry
            count = min(len(bucket), max(0, round(expected)))
            carry = expected - count
            backouts += rng.sample(bucket, count)
        backouts.sort()
        completed = sorted(set(deployed) - set(backouts))
        automatic = set(rng.sample(backouts, min(self.automatic, len(backouts))))
        manual = [i for i in backouts if i not in automatic]
        withdrawn = max(1, round(n * 0.007)) if n >= 20 else 0
        withdrawn_backout = set(
            rng.sample(manual, min(withdrawn // 2 + withdrawn % 2, len(manual)))
        )
        # Most back-outs follow a crossed failure rate; some a window that ended with targets not
        # installed, some a failed health signal after the installation.
        causes = [
            "backout_rate",
            "backout_window",
            "backout_rate",
            "backout_health",
            "backout_rate",
        ]
        rng.shuffle(manual)
        for k, i in enumerate(manual):
            kinds[i] = "backout_withdrawn" if i in withdrawn_backout else causes[k % len(causes)]
        for i in automatic:
            kinds[i] = "backout_auto"
        overridden = rng.sample(
            completed, min(max(1, round(n * 0.015)) if n >= 20 else 0, len(completed))
        )
        for k, i in enumerate(overridden):
            kinds[i] = "override_withdrawn" if k < withdrawn // 2 else "override"
        return kinds

    def run(self) -> dict:
        rng = self.rng
        anchors = self._anchors()
        kinds = self._outcomes(anchors)
        # About a quarter of the errors are found by verification, 1.6 per failed verification.
        verification_budget = round(self.error_total * 0.25)
        failing = set(rng.sample(range(self.n), min(self.n, round(verification_budget / 1.6))))
        self.verification_budget = verification_budget
        span = (self.end - self.start).total_seconds()
        self._lock_sequences()
        self._first_error = (
            Discrepancy.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        )
        self._error_index = 0
        self._change_index = ChangeRequest.objects.filter(
            source_system__in=[HISTORY_SOURCE, JIRA_SOURCE]
        ).count()
        for first in range(0, self.n, CHUNK):
            chunk = []
            for i in range(first, min(first + CHUNK, self.n)):
                anchor = self.start + timedelta(seconds=anchors[i] * span)
                if kinds[i] == "cancelled":
                    anchor = anchor.replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59))
                else:
                    anchor = anchor.replace(
                        hour=rng.choice((6, 18, 19, 20, 21, 22)), minute=0, second=0, microsecond=0
                    )
                anchor = min(anchor, self.end)
                chunk.append(self._simulate(kinds[i], anchor, anchors[i], i in failing))
            self._write(chunk)
            self.progress(f"{min(first + CHUNK, self.n)} of {self.n} releases")
        self._save_sequences()
        self._write_other_errors()
        return self.counts

    # Release numbers: REL-<year created>-NNNN from each year's sequence, kept ahead.

    def _lock_sequences(self) -> None:
        """Hold the sequences of the years the history spans (a release created meanwhile waits)
        and take numbers after their last."""
        years = list(range(self.start.year - 1, self.now.year + 1))
        self.sequences = dict(
            ReleaseNumberSequence.objects.select_for_update()
            .filter(year__in=years)
            .values_list("year", "last")
        )

    def _save_sequences(self) -> None:
        for year, last in self.sequences.items():
            sequence, _ = ReleaseNumberSequence.objects.get_or_create(year=year)
            if sequence.last < last:
                sequence.last = last
                sequence.save(update_fields=["last"])

    # One release

    def _simulate(self, kind: str, anchor: datetime, x: float, failing: bool) -> SimulatedRelease:
        rng = self.rng
        category_name = rng.choices([STANDARD, ANTIVIRUS, EMERGENCY], [72, 15, 13])[0]
        if category_name == ANTIVIRUS and self.endpoint_units:
            unit = rng.choice(self.endpoint_units)
        else:
            unit = rng.choices(self.units, self.unit_weights)[0]
        if category_name in (ANTIVIRUS, EMERGENCY):
            level = ReleaseLevel.DELTA
        else:
            level = rng.choices(
                [ReleaseLevel.DELTA, ReleaseLevel.PACKAGE, ReleaseLevel.FULL], [50, 28, 22]
            )[0]
        available = len(unit.targets)
        low = min(self.lo, available)
        count = rng.randint(low, max(low, min(self.hi, available)))
        targets = rng.sample(unit.targets, count)
        targets.sort(key=lambda t: t[1])
        release = SimulatedRelease(fields={})
        self._plan(release, unit, level, category_name, targets, kind, x)
        self._walk_to_deployment(release, level, kind, x, failing, targets)
        if kind == "cancelled":
            self._cancel(release, anchor)
        else:
            self._deploy(release, unit, kind, anchor)
        self._finish(release)
        return release
