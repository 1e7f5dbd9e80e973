"""CMDB and licence errors: what each kind says, and those found outside releases (agents,
imports, the integrity check, people)."""

from __future__ import annotations

import math
from datetime import timedelta

from cmdb.choices import ERROR_KIND_CATEGORY, ErrorKind, ErrorSource
from cmdb.models import Discrepancy
from releases.demo_history.constants import BATCH, DAY, HOUR_DELTA, RESOLUTIONS, RESOLVED_BY_CHECK
from releases.demo_history.writing import as_columns


class ErrorsMixin:
    """The errors the history records.

    Part of the generator (``_Generator`` in ``generator``): its ``__init__`` sets the state
    these methods use (``rng``, ``users``, ``now``, ``counts`` …)."""

    def _error_text(self, kind, identifier, product, licence_name) -> dict:
        rng = self.rng
        major, minor = rng.randint(1, 9), rng.randint(0, 20)
        texts = {
            ErrorKind.VERSION_MISMATCH: (
                f"{product} on {identifier}",
                f"{product} {major}.{minor} installed (the version recorded in the CMDB)",
                f"{product} {major}.{max(minor - 1, 0)} installed",
            ),
            ErrorKind.RETIRED_TARGET: (
                identifier,
                "an active configuration item",
                "status retired",
            ),
            ErrorKind.MISSING_TARGET: (
                identifier,
                "a configuration item recorded in the CMDB",
                "no such configuration item",
            ),
            ErrorKind.DUPLICATE_IDENTITY: (
                f"serial number of {identifier}",
                "one configuration item per serial number",
                f"{identifier} and another CI share serial HQ-{rng.randint(7000, 9999)}",
            ),
            ErrorKind.BROKEN_RELATIONSHIP: (
                f"runs on {identifier}",
                "a relationship to an active configuration item",
                f"{identifier} is retired",
            ),
            ErrorKind.UNAUTHORISED_SOFTWARE: (
                f"{product} {major}.{minor} on {identifier}",
                "only authorised DSL versions installed",
                f"{product} {major}.{minor} is not in the DSL",
            ),
            ErrorKind.SEATS_EXCEEDED: (
                licence_name,
                f"at most {rng.choice((40, 200, 205, 250))} seats in use",
                f"{rng.randint(1, 12)} seat(s) more in use",
            ),
            ErrorKind.LICENCE_EXPIRED: (
                licence_name,
                "a valid licence for every installation",
                "the licence has expired",
            ),
            ErrorKind.LICENCE_MISSING: (
                f"{product} on {identifier}",
                "a licence covering the installation",
                "no licence in the CMDB",
            ),
        }
        subject, expected, found = texts[kind]
        return {"subject": subject, "expected": expected, "found": found}

    def _write_other_errors(self) -> None:
        rng = self.rng
        remaining = self.error_total - self.counts["errors"]
        cis = [target for unit in self.units for target in unit.targets]
        products = sorted({p for unit in self.units for p in unit.products} or {"Billing Service"})
        batch = []
        for _ in range(max(0, remaining)):
            source = rng.choices(
                [
                    ErrorSource.AGENT_REPORT,
                    ErrorSource.INTEGRITY_CHECK,
                    ErrorSource.IMPORT,
                    ErrorSource.MANUAL,
                ],
                [33, 34, 20, 13],
            )[0]
            kind = rng.choice(
                {
                    ErrorSource.AGENT_REPORT: (
                        ErrorKind.VERSION_MISMATCH,
                        ErrorKind.VERSION_MISMATCH,
                        ErrorKind.UNAUTHORISED_SOFTWARE,
                    ),
                    ErrorSource.INTEGRITY_CHECK: (
                        ErrorKind.SEATS_EXCEEDED,
                        ErrorKind.LICENCE_EXPIRED,
                        ErrorKind.LICENCE_MISSING,
                        ErrorKind.RETIRED_TARGET,
                        ErrorKind.UNAUTHORISED_SOFTWARE,
                        ErrorKind.BROKEN_RELATIONSHIP,
                        ErrorKind.DUPLICATE_IDENTITY,
                    ),
                    ErrorSource.IMPORT: (
                        ErrorKind.MISSING_TARGET,
                        ErrorKind.DUPLICATE_IDENTITY,
                        ErrorKind.LICENCE_MISSING,
                        ErrorKind.BROKEN_RELATIONSHIP,
                    ),
                    ErrorSource.MANUAL: tuple(
                        k for k in ErrorKind if k != ErrorKind.HARDWARE_NOT_RESERVED
                    ),
                }[source]
            )
            ci_id, identifier = rng.choice(cis)
            licence_id, licence_name = rng.choice(self.licences)
            error = self._error_text(kind, identifier, rng.choice(products), licence_name)
            # Slightly fewer errors later in the year (density 1 - 0.4·x): the CMDB gets cleaner.
            x = (1 - math.sqrt(1 - 0.64 * rng.random())) / 0.4
            detected = self.start + x * (self.now - HOUR_DELTA - self.start)
            age = (self.now - detected).total_seconds()
            # Recent ones are mostly still open; the integrity check resolves its own when the
            # problem is gone (an open one it no longer finds would be closed on its next run).
            checked = source == ErrorSource.INTEGRITY_CHECK
            open_chance = 0.0 if checked else (0.7 if age < 30 * DAY else 0.08)
            resolved = resolved_by = None
            resolution = ""
            if rng.random() >= open_chance:
                resolved = detected + timedelta(hours=rng.expovariate(1 / 72) + 1)
                if resolved >= self.now:
                    resolved = None
                    if checked:  # gone by the check's latest run
                        resolved = detected + (self.now - detected) * rng.uniform(0.2, 0.9)
            if resolved is not None:
                if checked:
                    resolution = RESOLVED_BY_CHECK
                else:
                    resolution = rng.choice(RESOLUTIONS[kind])
                    resolved_by = self.users.config_manager.pk
            self._error_index += 1
            category = ERROR_KIND_CATEGORY[kind]
            references = {
                ErrorSource.AGENT_REPORT: f"agent {identifier}",
                ErrorSource.IMPORT: f"cmdb-import-{detected:%Y-%m-%d}.csv",
                ErrorSource.MANUAL: f"INC{rng.randint(100000, 999999):07d}",
                ErrorSource.INTEGRITY_CHECK: "",
            }
            batch.append(
                dict(
                    category=category,
                    kind=kind,
                    source=source,
                    ci_id=ci_id if category == "cmdb" else None,
                    licence_id=licence_id if category == "licence" else None,
                    subject=error["subject"][:200],
                    expected=error["expected"],
                    found=error["found"],
                    reference=references[source],
                    fingerprint=f"{source}:{kind}:{identifier}:{self._first_error + self._error_index}",
                    detected_at=detected,
                    resolved_at=resolved,
                    resolved_by_id=resolved_by,
                    resolution=resolution,
                )
            )
            if len(batch) >= BATCH:
                self._insert(Discrepancy, *as_columns(Discrepancy, batch))
                self.counts["errors"] += len(batch)
                batch = []
        self._insert(Discrepancy, *as_columns(Discrepancy, batch))
        self.counts["errors"] += len(batch)
