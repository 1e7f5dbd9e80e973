from django.apps import AppConfig


class DslDhsConfig(AppConfig):
    name = "dsl_dhs"
    verbose_name = "DSL and DHS"
