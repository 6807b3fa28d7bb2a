from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The beep-iam project itself: its checks and the commands it changes for this project."""

    name = "config"
    verbose_name = "beep-iam project"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the checks)
