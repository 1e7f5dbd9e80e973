"""The calendar's days: which days a month or week view shows, and which windows and freezes
fall on each day in the viewer's time zone. Pure date arithmetic, no queries."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from django.utils.formats import date_format

MONTH = "month"
WEEK = "week"
VIEWS = {MONTH: "Month", WEEK: "Week"}


@dataclass(frozen=True)
class Period:
    view: str
    anchor: date
    first_day: date  # the first day shown
    last_day: date  # the last day shown (inclusive)
    label: str
    previous: date
    next: date

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]

    def in_view(self, day: date) -> bool:
        """A day of the month itself (month view) — every day in the week view."""
        return self.view == WEEK or (day.year, day.month) == (self.anchor.year, self.anchor.month)


@dataclass
class DayEntry:
    """A window as one day shows it: whether it starts or ends that day, and the times to show."""

    event: object  # selectors.WindowEvent
    time_label: str
    starts_today: bool
    ends_today: bool


@dataclass
class Day:
    date: date
    in_view: bool
    is_today: bool
    entries: list[DayEntry] = field(default_factory=list)
    freezes: list = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.entries and not self.freezes


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_for(view: str, anchor: date) -> Period:
    """The month (whole weeks, Monday first) or the week (Monday to Sunday) around ``anchor``."""
    if view == WEEK:
        monday = anchor - timedelta(days=anchor.weekday())
        sunday = monday + timedelta(days=6)
        week = monday.isocalendar().week
        label = f"Week {week} · {date_format(monday, 'j M')} – {date_format(sunday, 'j M Y')}"
        return Period(
            view=WEEK,
            anchor=monday,
            first_day=monday,
            last_day=sunday,
            label=label,
            previous=monday - timedelta(days=7),
            next=monday + timedelta(days=7),
        )
    first = anchor.replace(day=1)
    following = _add_months(first, 1)
    last = following - timedelta(days=1)
    return Period(
        view=MONTH,
        anchor=first,
        first_day=first - timedelta(days=first.weekday()),
        last_day=last + timedelta(days=6 - last.weekday()),
        label=date_format(first, "F Y"),
        previous=_add_months(first, -1),
        next=following,
    )


def local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def bounds(period: Period, zone: tzinfo) -> tuple[datetime, datetime]:
    """The period as an aware half-open interval: the first day's midnight to the midnight
    after the last day, in ``zone`` (the database compares them in UTC)."""
    return (
        local_midnight(period.first_day, zone),
        local_midnight(period.last_day + timedelta(days=1), zone),
    )


def _days_covered(start: datetime, end: datetime, zone: tzinfo) -> tuple[date, date]:
    """The first and last local day that ``start``–``end`` touches (an end at midnight does
    not touch the day it opens)."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    last = local_end.date()
    if local_end.time() == time.min and local_end > local_start:
        last -= timedelta(days=1)
    return local_start.date(), last


def _time_label(start: datetime, end: datetime, day: date, zone: tzinfo) -> tuple[str, bool, bool]:
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    first, last = _days_covered(start, end, zone)
    starts, ends = day == first, day == last
    if starts and ends:
        return f"{local_start:%H:%M}–{local_end:%H:%M}", True, True
    if starts:
        return f"from {local_start:%H:%M}", True, False
    if ends:
        return f"until {local_end:%H:%M}", False, True
    return "all day", False, False


def lay_out(period: Period, windows, freezes, *, zone: tzinfo, today: date) -> list[Day]:
    """The period's days, each with the windows and freezes covering it (in ``zone``). A window
    spanning several days is on each of them."""
    days = {
        day: Day(date=day, in_view=period.in_view(day), is_today=day == today)
        for day in period.days
    }
    for event in windows:
        first, last = _days_covered(event.start, event.end, zone)
        day = max(first, period.first_day)
        while day <= min(last, period.last_day):
            label, starts, ends = _time_label(event.start, event.end, day, zone)
            days[day].entries.append(DayEntry(event, label, starts, ends))
            day += timedelta(days=1)
    for freeze in freezes:
        first, last = _days_covered(freeze.start, freeze.end, zone)
        day = max(first, period.first_day)
        while day <= min(last, period.last_day):
            days[day].freezes.append(freeze)
            day += timedelta(days=1)
    return list(days.values())


def weeks(days: list[Day]) -> list[list[Day]]:
    return [days[n : n + 7] for n in range(0, len(days), 7)]
