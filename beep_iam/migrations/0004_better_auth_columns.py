# better-auth's role reads and writes only better-auth's columns of "user": Django's own
# columns (password, last_login, is_staff, is_superuser, is_active) are out of its reach.

from django.db import migrations

import beep_iam.better_auth.grants


class Migration(migrations.Migration):
    dependencies = [
        ("beep_iam", "0003_verbose_names"),
    ]

    operations = [
        beep_iam.better_auth.grants.LimitBetterAuthColumns(
            columns={
                "user": [
                    "id",
                    "row_id",
                    "created_at",
                    "updated_at",
                    "deleted_at",
                    "created_by",
                    "updated_by",
                    "deleted_by",
                    "version",
                    "source",
                    "name",
                    "email",
                    "email_verified",
                    "image",
                    "role",
                    "banned",
                    "ban_reason",
                    "ban_expires",
                    "is_anonymous",
                    "phone_number",
                    "phone_number_verified",
                    "two_factor_enabled",
                    "username",
                    "display_username",
                    "stripe_customer_id",
                    "last_login_method",
                    "upload_limit",
                ],
            },
        ),
    ]
