"""Secret columns become SecretField / DigestField: model state only, the columns stay text
(``sqlmigrate`` prints no statement)."""

import beep_shared.db.show_once
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("beep_iam", "0006_account_keeps_its_owner"),
    ]

    operations = [
        migrations.AlterField(
            model_name="account",
            name="access_token",
            field=beep_shared.db.show_once.SecretField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="account",
            name="id_token",
            field=beep_shared.db.show_once.SecretField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="account",
            name="password",
            field=beep_shared.db.show_once.SecretField(
                blank=True, help_text="Django password hash.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="account",
            name="refresh_token",
            field=beep_shared.db.show_once.SecretField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="key",
            field=beep_shared.db.show_once.DigestField(
                help_text="SHA-256 digest (base64url) of the key."
            ),
        ),
        migrations.AlterField(
            model_name="devicecode",
            name="device_code",
            field=beep_shared.db.show_once.DigestField(
                help_text="SHA-256 digest (base64url) of the device code."
            ),
        ),
        migrations.AlterField(
            model_name="jwks",
            name="private_key",
            field=beep_shared.db.show_once.SecretField(),
        ),
        migrations.AlterField(
            model_name="oauthaccesstoken",
            name="token",
            field=beep_shared.db.show_once.DigestField(
                blank=True, editable=False, help_text="SHA-256 digest of the token.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="oauthclient",
            name="client_secret",
            field=beep_shared.db.show_once.DigestField(
                blank=True,
                editable=False,
                help_text="SHA-256 digest of the client secret.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="oauthrefreshtoken",
            name="rotation_replay_response",
            field=beep_shared.db.show_once.SecretField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="oauthrefreshtoken",
            name="token",
            field=beep_shared.db.show_once.DigestField(
                editable=False, help_text="SHA-256 digest of the token."
            ),
        ),
        migrations.AlterField(
            model_name="scimprovider",
            name="scim_token",
            field=beep_shared.db.show_once.DigestField(
                help_text="SHA-256 digest (base64url) of the SCIM token."
            ),
        ),
        migrations.AlterField(
            model_name="twofactor",
            name="backup_codes",
            field=beep_shared.db.show_once.SecretField(),
        ),
        migrations.AlterField(
            model_name="twofactor",
            name="secret",
            field=beep_shared.db.show_once.SecretField(),
        ),
        migrations.AlterField(
            model_name="verification",
            name="identifier",
            field=beep_shared.db.show_once.SecretField(),
        ),
        migrations.AlterField(
            model_name="verification",
            name="value",
            field=beep_shared.db.show_once.SecretField(),
        ),
    ]
