from django.apps import AppConfig


class BeepIamConfig(AppConfig):
    name = "beep_iam"
    verbose_name = "Access and OAuth"
    default_auto_field = "django.db.models.BigAutoField"
