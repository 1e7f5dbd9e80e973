"""``manage.py generate_history --releases N --targets-per-release A-B --errors N --months N
--seed N``: write a past of ended releases, their targets and timelines, change requests,
overrides and CMDB/licence errors in bulk (see ``releases.demo_history``). Adds to what is there;
creates demo users, release categories and a small estate (four services, workstations) when the
CMDB has no release unit with targets. Used by the KPI benchmark; refuses production settings."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from releases import demo_history


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        low, high = int(low), int(high or low)
    except ValueError:
        raise CommandError(f"--targets-per-release: give A-B (e.g. 5-15), not {text!r}.") from None
    if not 1 <= low <= high:
        raise CommandError("--targets-per-release: A-B with 1 <= A <= B.")
    return low, high


class Command(BaseCommand):
    help = "Write months of ended releases, targets, changes, overrides and errors in bulk."

    def add_arguments(self, parser):
        parser.add_argument("--releases", type=int, default=300)
        parser.add_argument("--targets-per-release", default="1-40", help="A-B, e.g. 5-15")
        parser.add_argument("--errors", type=int, default=200)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--automatic-backouts",
            type=int,
            default=1,
            help="Back-outs that started by themselves (deadline passed).",
        )
        parser.add_argument(
            "--endpoints",
            type=int,
            default=1000,
            help="Workstations to create when the CMDB has no release unit with targets.",
        )

    def handle(self, *args, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("generate_history refuses to run under the production settings.")
        low, high = _range(options["targets_per_release"])
        for name in ("releases", "errors", "months"):
            if options[name] < (1 if name == "months" else 0):
                raise CommandError(f"--{name.replace('_', '-')} must not be negative.")
        started = time.monotonic()
        with transaction.atomic():
            users = demo_history.history_users()
            categories = demo_history.history_categories()
            units = demo_history.history_estate(endpoints=max(options["endpoints"], high))
            counts = demo_history.history_generate(
                releases=options["releases"],
                targets_per_release=(low, high),
                errors=options["errors"],
                months=options["months"],
                seed=options["seed"],
                users=users,
                units=units,
                categories=categories,
                automatic_backouts=options["automatic_backouts"],
                progress=lambda text: self.stdout.write(
                    f"  {text} ({time.monotonic() - started:.1f} s)"
                ),
            )
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"History written in {elapsed:.1f} s: "
                + ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())
                + "."
            )
        )
