from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed
from django.db.backends.signals import connection_created


class BeepSharedConfig(AppConfig):
    name = "beep_shared"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every system check and signal receiver of the app is registered here, once the
        # registry is ready, and nowhere on import. (Only ``class_prepared`` in
        # ``beep_shared.db.model_hooks`` is connected on import: it must see the models while
        # they are being imported, before any ``ready()``.)
        from beep_shared import checks as shared_checks
        from beep_shared import conf
        from beep_shared.rls import checks as rls_checks
        from beep_shared.rls.connection import on_connection_created

        checks.register(conf.check_settings, checks.Tags.compatibility)
        checks.register(rls_checks.check_bypass_configuration)
        checks.register(shared_checks.check_host_project_settings)
        checks.register(shared_checks.check_login_honours_user_validity, checks.Tags.security)
        checks.register(shared_checks.check_database_reachable, checks.Tags.database)
        checks.register(rls_checks.check_row_level_security, checks.Tags.database)
        setting_changed.connect(conf.reset_cache, dispatch_uid="beep_shared.conf.reset_cache")
        connection_created.connect(on_connection_created, dispatch_uid="beep_shared.rls.install")
