"""'' in the unique optional user columns becomes NULL.

The admin's user form stored '' for an empty username or phone number; after one such save
every other user's save was refused (only one row may hold ''). Forms and ``User.save()``
now store NULL; this repairs the rows written before.
"""

from typing import Any

from django.db import migrations

COLUMNS = ("username", "phone_number")


def empty_to_null(apps: Any, schema_editor: Any) -> None:
    user = apps.get_model("beep_shared", "User")
    for column in COLUMNS:
        user.objects.filter(**{f"{column}__regex": r"^\s*$"}).update(**{column: None})


class Migration(migrations.Migration):
    dependencies = [("beep_shared", "0008_team_slug_database_default")]

    operations = [migrations.RunPython(empty_to_null, migrations.RunPython.noop, elidable=True)]
