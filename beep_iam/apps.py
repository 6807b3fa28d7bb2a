from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed


class BeepIamConfig(AppConfig):
    name = "beep_iam"
    verbose_name = "Access and OAuth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every system check and signal receiver of the app is registered here, nowhere on
        # import (beep_shared's ready() does the same for the lower layer).
        from beep_iam import conf
        from beep_iam.better_auth import checks as co_tenancy
        from beep_iam.better_auth import credentials, grants, middleware
        from beep_iam.oauth2 import access_jwt, keys, sign_in
        from beep_iam.oauth2 import checks as endpoint_checks

        checks.register(conf.check_settings, checks.Tags.compatibility)
        checks.register(co_tenancy.check_co_tenancy, checks.Tags.security)
        checks.register(grants.check_unnamed_role_privileges, checks.Tags.database)
        checks.register(grants.check_named_role_privileges, checks.Tags.database)
        checks.register(endpoint_checks.check_issuer, checks.Tags.urls)
        setting_changed.connect(conf.reset_cache, dispatch_uid="beep_iam.conf.reset_cache")
        credentials.connect()
        middleware.connect()
        access_jwt.connect()
        sign_in.connect()
        keys.connect()
