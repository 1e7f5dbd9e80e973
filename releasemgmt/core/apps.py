from django.apps import AppConfig
from django.urls import register_converter

from releasemgmt.core.converters import IdConverter


class CoreConfig(AppConfig):
    name = "releasemgmt.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self):
        # `<id:pk>` in every app's URLs: registered before any URL module is imported.
        register_converter(IdConverter, "id")
