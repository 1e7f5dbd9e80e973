"""Reads of the release calendar: the distribution and installation windows and the freeze
windows of a period, with the conflicts between them.

A conflict is (a) two releases whose installation windows overlap and that share a target CI, or
(b) an installation window that overlaps a freeze window applying to the release (the rule of
``releases.services.freezes.freeze_applies_q``). Both are found with SQL overlap joins, so a
period costs a fixed number of queries however many releases it holds. Windows are half-open
(``start <= t < end``): a window that ends when the next one starts does not overlap it.
Everything is compared in UTC."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Func, Min, OuterRef, Q, QuerySet, Subquery

from releases.choices import FreezeScope, ReleaseState
from releases.models import FreezeWindow, Release, ReleaseTarget
from releases.services.freezes import freeze_applies_q

DISTRIBUTION = "distribution"
INSTALLATION = "installation"
WINDOW_KINDS = {DISTRIBUTION: "Distribution", INSTALLATION: "Installation"}
# A cancelled release installs nothing: it neither has nor causes conflicts.
NO_CONFLICT_STATES = frozenset({ReleaseState.CANCELLED})


@dataclass(frozen=True)
class Conflict:
    """Why an installation window is in trouble, in one sentence."""

    kind: str  # "target" or "freeze"
    message: str
    other_release_id: int | None = None
    other_release_number: str = ""
    ci: str = ""
    freeze: FreezeWindow | None = None


@dataclass
class WindowEvent:
    """One window of one release."""

    release: Release
    kind: str  # DISTRIBUTION or INSTALLATION
    start: datetime
    end: datetime
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return WINDOW_KINDS[self.kind]

    @property
    def label(self) -> str:
        return f"{self.release.number} {self.release.title} · {self.kind_label}"


@dataclass
class CalendarPeriod:
    start: datetime
    end: datetime
    windows: list[WindowEvent]
    freezes: list[FreezeWindow]

    @property
    def conflicts(self) -> list[tuple[WindowEvent, Conflict]]:
        return [(event, conflict) for event in self.windows for conflict in event.conflicts]


def freeze_scope_label(freeze: FreezeWindow) -> str:
    """Whom a freeze applies to, for people: "every release", "the production environment"…"""
    if freeze.scope == FreezeScope.ENVIRONMENT:
        return f"the {freeze.get_environment_display().lower()} environment"
    if freeze.scope == FreezeScope.RELEASE_UNIT:
        return f"release unit {freeze.release_unit}"
    return "every release"


def _overlapping(start: datetime, end: datetime) -> Q:
    return Q(distribution_start__lt=end, distribution_end__gt=start) | Q(
        installation_start__lt=end, installation_end__gt=start
    )


def calendar_releases(
    *,
    start: datetime,
    end: datetime,
    unit_id: int | None = None,
    environment: str = "",
    states=(),
) -> QuerySet:
    """Releases with a window overlapping ``start``–``end`` that match the filters (the unit,
    the environment of the unit, any of ``states``)."""
    releases = Release.objects.filter(_overlapping(start, end))
    if unit_id:
        releases = releases.filter(release_unit_id=unit_id)
    if environment:
        releases = releases.filter(release_unit__environment=environment)
    if states:
        releases = releases.filter(state__in=list(states))
    return releases


def calendar_freezes(
    *, start: datetime, end: datetime, unit_id: int | None = None, environment: str = ""
) -> QuerySet:
    """Freeze windows overlapping ``start``–``end``, without those scoped to another unit or
    another environment than the filters name."""
    freezes = FreezeWindow.objects.filter(start__lt=end, end__gt=start)
    if unit_id:
        freezes = freezes.exclude(Q(scope="release_unit") & ~Q(release_unit_id=unit_id))
    if environment:
        freezes = freezes.exclude(Q(scope="environment") & ~Q(environment=environment))
    return freezes.select_related("release_unit").order_by("start", "id")


def _applying_freezes():
    """Freeze windows that apply to the outer release and overlap its installation window."""
    environments = ReleaseTarget.objects.filter(release_id=OuterRef(OuterRef("pk"))).values(
        "ci__environment"
    )
    return FreezeWindow.objects.filter(
        freeze_applies_q(release_unit_id=OuterRef("release_unit_id"), environments=environments),
        start__lt=OuterRef("installation_end"),
        end__gt=OuterRef("installation_start"),
    )


def _target_conflicts(releases: QuerySet) -> list[dict]:
    """One row per (release, other release) whose installation windows overlap and that share
    target CIs: how many CIs and the first of them. One self-join of the targets on the CI."""
    other = "ci__release_targets__release"
    return list(
        ReleaseTarget.objects.filter(release__in=releases.values("pk"))
        .exclude(release__state__in=NO_CONFLICT_STATES)
        # One filter() call: every condition on the other release uses the same join.
        .filter(
            Q(**{f"{other}_id__lt": F("release_id")}) | Q(**{f"{other}_id__gt": F("release_id")}),
            **{
                f"{other}__installation_start__lt": F("release__installation_end"),
                f"{other}__installation_end__gt": F("release__installation_start"),
                f"{other}__state__in": [
                    s for s in ReleaseState.values if s not in NO_CONFLICT_STATES
                ],
            },
        )
        .values("release_id", f"{other}_id", f"{other}__number")
        .annotate(cis=Count("ci_id", distinct=True), first_ci=Min("ci__identifier"))
        .order_by("release_id", f"{other}__number")
        .values_list("release_id", f"{other}_id", f"{other}__number", "cis", "first_ci")
    )


def _target_message(number: str, cis: int, first_ci: str) -> str:
    more = f" and {cis - 1} more CI{'s' if cis > 2 else ''}" if cis > 1 else ""
    return (
        f"Shares target CI {first_ci}{more} with {number}, "
        "whose installation window overlaps this one."
    )


def _freeze_message(freeze: FreezeWindow, count: int) -> str:
    more = f" and {count - 1} more freeze window{'s' if count > 2 else ''}" if count > 1 else ""
    return f"Overlaps the freeze window “{freeze.reason}”{more}."


def calendar_period(
    *,
    start: datetime,
    end: datetime,
    unit_id: int | None = None,
    environment: str = "",
    states=(),
) -> CalendarPeriod:
    """The windows and freezes of ``start``–``end`` (aware datetimes), each installation window
    with its conflicts. At most four queries whatever the number of releases: the releases
    (with their first applying freeze and a count of them), the target-CI conflicts, the freezes
    named by conflicts, and the freezes of the period."""
    base = calendar_releases(
        start=start, end=end, unit_id=unit_id, environment=environment, states=states
    )
    applying = _applying_freezes()
    releases = list(
        base.select_related("release_unit")
        .annotate(
            frozen_by_id=Subquery(applying.order_by("start", "id").values("pk")[:1]),
            frozen_by_count=Subquery(
                applying.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
            ),
        )
        .order_by("installation_start", "distribution_start", "number")
    )
    target_rows = _target_conflicts(base) if releases else []
    freeze_ids = {
        r.frozen_by_id for r in releases if r.frozen_by_id and r.state not in NO_CONFLICT_STATES
    }
    freeze_names = FreezeWindow.objects.in_bulk(freeze_ids) if freeze_ids else {}

    conflicts: dict[int, list[Conflict]] = {}
    for release_id, other_id, number, cis, first_ci in target_rows:
        conflicts.setdefault(release_id, []).append(
            Conflict(
                kind="target",
                message=_target_message(number, cis, first_ci),
                other_release_id=other_id,
                other_release_number=number,
                ci=first_ci,
            )
        )
    for release in releases:
        freeze = freeze_names.get(release.frozen_by_id)
        if freeze is not None and release.state not in NO_CONFLICT_STATES:
            conflicts.setdefault(release.pk, []).append(
                Conflict(
                    kind="freeze",
                    message=_freeze_message(freeze, release.frozen_by_count or 1),
                    freeze=freeze,
                )
            )

    windows = []
    for release in releases:
        for kind in (DISTRIBUTION, INSTALLATION):
            window_start = getattr(release, f"{kind}_start")
            window_end = getattr(release, f"{kind}_end")
            if window_start is None or window_end is None:
                continue
            if not (window_start < end and window_end > start):
                continue
            event = WindowEvent(release=release, kind=kind, start=window_start, end=window_end)
            if kind == INSTALLATION:
                event.conflicts = conflicts.get(release.pk, [])
            windows.append(event)
    windows.sort(key=lambda event: (event.start, event.release.number, event.kind))
    freezes = list(calendar_freezes(start=start, end=end, unit_id=unit_id, environment=environment))
    return CalendarPeriod(start=start, end=end, windows=windows, freezes=freezes)
