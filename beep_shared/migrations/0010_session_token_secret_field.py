"""Secret columns become SecretField / DigestField: model state only, the columns stay text
(``sqlmigrate`` prints no statement)."""

import beep_shared.models.session
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("beep_shared", "0009_user_empty_username_phone_null"),
    ]

    operations = [
        migrations.AlterField(
            model_name="session",
            name="token",
            field=beep_shared.models.session.SessionTokenField(
                help_text="SHA-256 digest (base64url) of the session token, or the token itself when sessions are shared with better-auth (SESSION_TOKEN_STORAGE 'plain')."
            ),
        ),
    ]
