import django.db.models.functions.text
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

# Existing rows: emails differing only in case or surrounding spaces would break the new
# case-insensitive unique constraint. Stop with their names rather than pick a winner;
# otherwise store every email normalised (trimmed, lower case), the form logins look up.
DUPLICATES_SQL = """
SELECT lower(btrim(email)), array_agg(id ORDER BY row_id) FROM "user"
GROUP BY lower(btrim(email)) HAVING count(*) > 1 ORDER BY 1 LIMIT 20
"""
NORMALIZE_SQL = 'UPDATE "user" SET email = lower(btrim(email)) WHERE email <> lower(btrim(email))'


def normalize_existing_emails(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(DUPLICATES_SQL)
        clashes = cursor.fetchall()
        if clashes:
            listed = "; ".join(f"{email}: {', '.join(ids)}" for email, ids in clashes)
            raise RuntimeError(
                "Users whose emails differ only in case or spaces must be merged or renamed "
                f"before emails become case-insensitively unique: {listed}"
            )
        cursor.execute(NORMALIZE_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("beep_shared", "0006_session_token_storage"),
    ]

    operations = [
        # Reversing keeps the normalised emails (their old spelling is not recorded).
        migrations.RunPython(normalize_existing_emails, migrations.RunPython.noop),
        pgtrigger.migrations.AddTrigger(
            model_name="user",
            trigger=pgtrigger.compiler.Trigger(
                name="normalize_email",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="NEW.email := lower(btrim(NEW.email)); RETURN NEW;",
                    hash="b8d9aec36634aff1f35066bdbafb3529228e9d35",
                    operation="INSERT OR UPDATE",
                    pgid="pgtrigger_normalize_email_6278a",
                    table="user",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                name="user_email_ci_key",
                violation_error_message="A user with this email address already exists.",
            ),
        ),
    ]
