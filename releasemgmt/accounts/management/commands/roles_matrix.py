from django.core.management.base import BaseCommand

from releasemgmt.accounts.roles import matrix_markdown


class Command(BaseCommand):
    help = "Print the role/permission matrix as Markdown (the README's copy must equal it)."

    def handle(self, **options):
        self.stdout.write(matrix_markdown())
