# Hand-written: grants the BYPASSRLS role (the bypass alias's USER) DML on the tables
# of the current schema, and the same on tables later migrations create (default
# privileges of the migrating role). A no-op when the role is not configured or missing.

from django.db import migrations

import beep_shared.rls.bypass


class Migration(migrations.Migration):
    dependencies = [
        ("beep_shared", "0002_team_row_level_security"),
    ]

    operations = [
        beep_shared.rls.bypass.GrantBypassPrivileges(),
    ]
