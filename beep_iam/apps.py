from django.apps import AppConfig


class BeepIamConfig(AppConfig):
    name = "beep_iam"
    verbose_name = "Access and OAuth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks and grants register system checks; credentials and middleware connect signals.
        from beep_iam.better_auth import checks, credentials, grants, middleware, sessions  # noqa: F401
        from beep_iam.oauth2 import checks as oauth2_checks  # noqa: F401

        credentials.connect()
        middleware.connect()
        sessions.connect()
