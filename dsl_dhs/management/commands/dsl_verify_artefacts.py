from django.core.management.base import BaseCommand

from dsl_dhs.services import VERIFY_BATCH, software_versions_verify


class Command(BaseCommand):
    help = (
        "Recompute the SHA-256 of stored DSL artefacts now (what the hourly task does): the least "
        "recently checked first; a mismatch or a missing file quarantines the version."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit",
            type=int,
            default=VERIFY_BATCH,
            help="Versions to check (default %(default)s).",
        )

    def handle(self, *, limit, **options):
        counts = software_versions_verify(limit=limit)
        summary = (
            ", ".join(f"{n} {result}" for result, n in sorted(counts.items())) or "nothing to check"
        )
        style = self.style.WARNING if set(counts) - {"ok"} else self.style.SUCCESS
        self.stdout.write(style(f"Artefacts checked: {summary}."))
