import importlib

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Load the demo data (idempotent: safe to run again). Each installed app may contribute a "
        "`demo.py` with `seed(stdout)`; they run in INSTALLED_APPS order. Refuses to run in production."
    )

    def handle(self, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo refuses to run under the production settings.")
        for config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as error:
                if error.name != f"{config.name}.demo":
                    raise
                continue
            with transaction.atomic():
                module.seed(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
