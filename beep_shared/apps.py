from django.apps import AppConfig


class BeepSharedConfig(AppConfig):
    name = "beep_shared"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from beep_shared import checks  # noqa: F401  (registers system checks)
