from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "releasemgmt.accounts"
    label = "accounts"
    verbose_name = "Accounts and API tokens"

    def ready(self):
        from django.db.models.signals import post_migrate

        from releasemgmt.accounts import schema  # noqa: F401  (registers the OpenAPI auth scheme)
        from releasemgmt.accounts.backends import connect_signals
        from releasemgmt.accounts.roles import sync_role_groups

        # Apps added later bring new permissions; keep the role groups in step after each migrate.
        post_migrate.connect(sync_role_groups, dispatch_uid="accounts.sync_role_groups")
        # Permission checks are kept per process, keyed by a stamp these signals renew.
        connect_signals()
