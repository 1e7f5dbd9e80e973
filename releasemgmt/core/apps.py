from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "releasemgmt.core"
    label = "core"
    verbose_name = "Platform"
