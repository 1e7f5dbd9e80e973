from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases"

    def ready(self):
        # These modules register their transition hooks (test scope, roll-out tasks, verification,
        # scheduling, back-out, CMDB update at close, status callbacks) when imported: import them
        # in every process, whatever entry point it started from.
        from releases.services import deployment, levels, planning, verification  # noqa: F401
        from releases.webhooks import callbacks  # noqa: F401
