import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cmdb.imports.run import IMPORTERS, import_csv


class Command(BaseCommand):
    help = (
        "Import a CSV file into the CMDB: configuration items, relationships, installed software "
        "or licences. Every row is checked first; nothing is written unless the whole file is "
        "valid. Prints one line per problem and the counts; exits non-zero when the file has "
        "errors. The format is described in docs/import-format.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=list(IMPORTERS), help="What the file holds.")
        parser.add_argument("file", help="Path of the CSV file, or - to read standard input.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only check the file and report what would change; write nothing.",
        )
        parser.add_argument(
            "--user",
            help="Username recorded as who imported (history and audit log); default: system.",
        )

    def handle(self, kind, file, dry_run, user, **options):
        by = None
        if user:
            by = get_user_model().objects.filter(username=user).first()
            if by is None:
                raise CommandError(f"No user named {user!r}.")
        if file == "-":
            report = import_csv(
                kind=kind, file=sys.stdin.buffer, filename="stdin.csv", by=by, dry_run=dry_run
            )
        else:
            path = Path(file)
            if not path.is_file():
                raise CommandError(f"No such file: {file}")
            with path.open("rb") as handle:
                report = import_csv(
                    kind=kind, file=handle, filename=path.name, by=by, dry_run=dry_run
                )

        for problem in report.problems:
            self.stdout.write(str(problem))
        counts = report.counts
        warnings = f", {counts['warnings']} warning{'s' if counts['warnings'] != 1 else ''}"
        if report.written:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported {report.filename}: {counts['created']} created, "
                    f"{counts['updated']} updated, {counts['unchanged']} unchanged"
                    f"{warnings} ({report.seconds:.1f} s)."
                )
            )
            return
        errors = len(report.errors)
        if errors:
            raise CommandError(
                f"{report.filename}: {errors} problem{'s' if errors != 1 else ''}; nothing was "
                "written.",
                returncode=1,
            )
        self.stdout.write(
            f"{report.filename} is valid: {report.rows} rows — {counts['created']} to create, "
            f"{counts['updated']} to update, {counts['unchanged']} unchanged{warnings}. "
            "Dry run: nothing was written."
        )
