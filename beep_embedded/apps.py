from django.apps import AppConfig


class BeepEmbeddedConfig(AppConfig):
    name = "beep_embedded"
    verbose_name = "Embedded PostgreSQL"
