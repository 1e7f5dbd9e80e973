from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from releasemgmt.accounts.services import api_token_issue
from releasemgmt.core.exceptions import DomainError


class Command(BaseCommand):
    help = "Issue an API token for USERNAME. The token is printed alone on the last line, once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for.")
        parser.add_argument("--expires-days", type=int, default=None)
        parser.add_argument(
            "--ci", default="", help="Limit the token to one CI (an agent's token): its identifier."
        )

    def handle(self, username, name, expires_days, ci, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            token, raw = api_token_issue(
                user=user, name=name, expires_days=expires_days, by=None, ci_scope=ci
            )
        except DomainError as error:
            raise CommandError(str(error)) from None
        expiry = (
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC"
            if token.expires_at
            else "does not expire"
        )
        self.stderr.write(
            f"Token {token.name!r} for {username} ({expiry}). Store it now: it is not shown again."
        )
        self.stdout.write(raw)
