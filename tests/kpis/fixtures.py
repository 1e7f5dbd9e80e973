"""November 2026, computed by hand. Every time is UTC.

| release | level | unit (env)   | ended                  | how        | notes                                        |
|---------|-------|--------------|------------------------|------------|----------------------------------------------|
| R1      | delta | A (prod)     | Mon 2 Nov 10:00        | completed  | change approved 31 Oct 20:00, installed 1 Nov 20:00 → lead 24 h; 4 targets, 3 on schedule |
| R2      | delta | A (prod)     | Tue 3 Nov 12:00        | backed out | condition 11:00, approved 11:10 → decision 10 min, restore 60 min; 2 targets (1 installed, 1 failed) |
| R3      | full  | B (staging)  | Mon 30 Nov 23:30       | completed  | no change: created 29 Nov 23:30, installed 30 Nov 11:30 → lead 12 h; in Auckland it is already December |
| R4      | delta | A (prod)     | Thu 5 Nov 09:00        | cancelled  |                                              |
| R5      | delta | A (prod)     | Sun 1 Nov 00:30        | completed  | spans October/November: installed 31 Oct 23:00, created 30 Oct 00:00 → lead 47 h; ISO week of 26 Oct |
| R6      | delta | A (prod)     | —                      | installing | condition 4 Nov 10:00, override requested 10:00 by u1, confirmed 10:20 by u2 → decision 20 min |
| R7      | full  | A (prod)     | Fri 6 Nov 10:30        | backed out | condition 09:00, started automatically 09:30 → decision 30 min, restore 90 min; 2 targets (1 installed, 1 failed) |

Errors: E1 licence/verification found 2 Nov, resolved 4 Nov; E2 licence/agent found 10 Nov, open;
E3 CMDB/import found 30 Nov 23:59 (staging CI), open.

November: 6 releases (3 completed, 2 backed out, 1 cancelled); back-outs 2 ÷ 5 = 40 %; targets
backed out 4 ÷ 10 = 40 %; installation success 8 ÷ 10 = 80 %; on schedule 7 ÷ 8 = 87.5 %;
decisions 10, 20, 30 min → median 20; restore 60, 90 → 75 min; lead 12, 24, 47 h → 24 h;
deployment frequency 3 ÷ 30 days = 0.1 / day; 1 automatic back-out; 1 override requested and
confirmed; licence errors 2 (1 resolved, 1 open), CMDB errors 1 (open).
"""

from datetime import UTC, datetime

from cmdb.choices import Environment, ErrorKind, ErrorSource
from releases.choices import InstallationState, OverrideStatus, ReleaseLevel, ReleaseState
from releases.models import BackoutOverride, Release, ReleaseTarget
from tests.factories import UserFactory
from tests.factories.cmdb import ConfigurationItemFactory, DiscrepancyFactory
from tests.factories.releases import ChangeRequestFactory, ReleaseFactory

S, IS = ReleaseState, InstallationState


def at(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ended_release(unit, *, targets=(), created=None, **fields) -> Release:
    """A release placed directly in its final shape, as the services leave it."""
    release = ReleaseFactory(release_unit=unit, **fields)
    for number, (state, installed_at) in enumerate(targets):
        ReleaseTarget.objects.create(
            release=release,
            ci=ConfigurationItemFactory(),
            installation_state=state,
            installed_at=installed_at,
            attempts=1,
        )
        del number
    if created is not None:
        Release.objects.filter(pk=release.pk).update(created_at=created)
    release.refresh_from_db()
    return release


def november(db):
    unit_a = ConfigurationItemFactory(service=True, environment=Environment.PRODUCTION)
    unit_b = ConfigurationItemFactory(service=True, environment=Environment.STAGING)
    window = {"installation_start": at(1, 18), "installation_end": at(2, 6)}
    r1 = ended_release(
        unit_a,
        state=S.CLOSED,
        outcome="completed",
        ended_at=at(2, 10),
        installed_at=at(1, 20),
        count_targets=4,
        created=at(30, 8, month=10),
        targets=[
            (IS.SUCCEEDED, at(1, 19)),
            (IS.SUCCEEDED, at(1, 20)),
            (IS.SUCCEEDED, at(1, 21)),
            (IS.SUCCEEDED, at(2, 7)),  # after the window closed
        ],
        **window,
    )
    r1.change_requests.add(ChangeRequestFactory(approved_at=at(31, 20, month=10)))
    r1.change_requests.add(ChangeRequestFactory(approved_at=None))
    backout = {
        "installation_start": at(3, 8),
        "installation_end": at(3, 20),
    }
    r2 = ended_release(
        unit_a,
        state=S.CLOSED,
        outcome="backed_out",
        ended_at=at(3, 12),
        backout_required_at=at(3, 11),
        backout_decided_at=at(3, 11, 10),
        count_targets=2,
        count_backed_out=2,
        targets=[(IS.BACKED_OUT, at(3, 9)), (IS.BACKED_OUT, None)],
        **backout,
    )
    r2.targets.filter(installed_at__isnull=True).update(installation_state=IS.FAILED)
    r3 = ended_release(
        unit_b,
        level=ReleaseLevel.FULL,
        state=S.REVIEWED,
        outcome="completed",
        ended_at=at(30, 23, 30),
        installed_at=at(30, 11, 30),
        count_targets=1,
        created=at(29, 23, 30),
        installation_start=at(30, 8),
        installation_end=at(30, 12),
        targets=[(IS.SUCCEEDED, at(30, 11, 30))],
    )
    r4 = ended_release(unit_a, state=S.CANCELLED, outcome="cancelled", ended_at=at(5, 9))
    r5 = ended_release(
        unit_a,
        state=S.CLOSED,
        outcome="completed",
        ended_at=at(1, 0, 30),
        installed_at=at(31, 23, month=10),
        count_targets=1,
        created=at(30, 0, month=10),
        installation_start=at(31, 22, month=10),
        installation_end=at(1, 2),
        targets=[(IS.SUCCEEDED, at(31, 23, month=10))],
    )
    u1, u2 = UserFactory(), UserFactory()
    r6 = ended_release(
        unit_a,
        state=S.INSTALLING,
        backout_required_at=at(4, 10),
        backout_decided_at=at(4, 10, 20),
    )
    BackoutOverride.objects.create(
        release=r6,
        status=OverrideStatus.CONFIRMED,
        reason="lab hosts",
        requested_by=u1,
        requested_at=at(4, 10),
        confirmed_by=u2,
        confirmed_at=at(4, 10, 20),
    )
    r7 = ended_release(
        unit_a,
        level=ReleaseLevel.FULL,
        state=S.BACKED_OUT,
        outcome="backed_out",
        ended_at=at(6, 10, 30),
        backout_required_at=at(6, 9),
        backout_decided_at=at(6, 9, 30),
        backout_started_automatically=True,
        count_targets=2,
        count_backed_out=2,
        installation_start=at(6, 6),
        installation_end=at(6, 18),
        targets=[(IS.BACKED_OUT, at(6, 8)), (IS.FAILED, None)],
    )
    e1 = DiscrepancyFactory(
        kind=ErrorKind.LICENCE_MISSING,
        source=ErrorSource.VERIFICATION,
        detected_at=at(2, 12),
        resolved_at=at(4, 12),
        ci=ConfigurationItemFactory(environment=Environment.PRODUCTION),
    )
    e2 = DiscrepancyFactory(
        kind=ErrorKind.SEATS_EXCEEDED,
        source=ErrorSource.AGENT_REPORT,
        detected_at=at(10, 8),
        ci=ConfigurationItemFactory(environment=Environment.PRODUCTION),
    )
    e3 = DiscrepancyFactory(
        kind=ErrorKind.VERSION_MISMATCH,
        source=ErrorSource.IMPORT,
        detected_at=at(30, 23, 59),
        ci=ConfigurationItemFactory(environment=Environment.STAGING),
    )
    return {
        "units": (unit_a, unit_b),
        "releases": (r1, r2, r3, r4, r5, r6, r7),
        "errors": (e1, e2, e3),
    }
