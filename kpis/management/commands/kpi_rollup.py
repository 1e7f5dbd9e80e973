from datetime import date

from django.core.management.base import BaseCommand, CommandError

from kpis.services import kpi_periods_mark_dirty, kpi_rollup_dirty, kpi_rollup_full


class Command(BaseCommand):
    help = (
        "Recompute the KPI snapshots: all of them, or (--since DATE) every period from that date "
        "on. The periodic rollup keeps the current periods fresh by itself."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="YYYY-MM-DD: recompute the periods from this day (UTC) to today"
        )

    def handle(self, *args, since=None, **options):
        if since:
            try:
                day = date.fromisoformat(since)
            except ValueError as error:
                raise CommandError(
                    f"--since takes a date like 2026-11-01, not {since!r}."
                ) from error
            marked = kpi_periods_mark_dirty(since=day)
            result = kpi_rollup_dirty()
            self.stdout.write(
                f"KPI periods since {day}: {marked} reopened, {result['periods']} recomputed "
                f"in {result['seconds']:.2f} s."
            )
            return
        result = kpi_rollup_full()
        self.stdout.write(
            f"KPI snapshots recomputed: {result['rows']} rows in {result['seconds']:.2f} s."
        )
