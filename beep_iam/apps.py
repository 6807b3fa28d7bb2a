from django.apps import AppConfig


class BeepIamConfig(AppConfig):
    name = "beep_iam"
    verbose_name = "Access and OAuth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from beep_iam.better_auth import checks, credentials, middleware  # noqa: F401

        credentials.connect()
        middleware.connect()
