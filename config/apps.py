from django.apps import AppConfig
from django.core import checks


class ProjectConfig(AppConfig):
    """The beep-iam project itself: its checks and the commands it changes for this project."""

    name = "config"
    verbose_name = "beep-iam project"

    def ready(self) -> None:
        from config.checks import check_secret_key

        checks.register(check_secret_key)
