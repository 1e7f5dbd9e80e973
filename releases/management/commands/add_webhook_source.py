"""``manage.py add_webhook_source NAME --adapter generic|servicenow|jira [--secret whsec_...]
[--callback-url URL]``: create a webhook source and print its signing secret (shown only here)."""

from django.core.management.base import BaseCommand, CommandError

from releasemgmt.core.exceptions import DomainError, error_text
from releases.models import WebhookAdapter, WebhookPolicy
from releases.webhooks.services import webhook_source_create


class Command(BaseCommand):
    help = "Create a change-management webhook source and print its signing secret once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Slug used in /api/v1/webhooks/<name>/.")
        parser.add_argument("--adapter", required=True, choices=WebhookAdapter.values)
        parser.add_argument("--secret", help="A whsec_ secret to use (generated when left out).")
        parser.add_argument("--callback-url", default="", help="Where status events go back.")
        parser.add_argument(
            "--policy", choices=WebhookPolicy.values, default=WebhookPolicy.AUTO_RELEASE
        )
        parser.add_argument("--time-zone", default="UTC", help="For dates sent without offset.")

    def handle(self, *args, **options):
        try:
            source, secret = webhook_source_create(
                name=options["name"],
                adapter=options["adapter"],
                secret=options["secret"],
                callback_url=options["callback_url"],
                policy=options["policy"],
                time_zone=options["time_zone"],
            )
        except DomainError as error:
            raise CommandError(error_text(error, with_fields=True)) from None
        self.stdout.write(f"Created webhook source {source.name} ({source.get_adapter_display()}).")
        self.stdout.write(f"Endpoint: POST /api/v1/webhooks/{source.name}/")
        self.stdout.write(f"Signing secret (shown only now): {secret}")
