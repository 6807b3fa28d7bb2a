"""Raw-SQL deletes of a user must not trip over Django's auth M2M tables.

``PermissionsMixin`` gives ``user_groups`` and ``user_user_permissions``, whose foreign keys
to ``user`` Django creates without an ON DELETE action. Another service deleting a user
that is in a group would fail at commit; this gives those keys ``ON DELETE CASCADE``.

A migration of its own: Django adds a migration's foreign keys at its end, so in the initial
migration there would be no key to change yet.
"""

from django.db import migrations

_SWAP = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT con.conname, rel.relname
        FROM pg_constraint con
        JOIN pg_class rel ON rel.oid = con.conrelid
        WHERE con.contype = 'f'
          AND con.confrelid = '"user"'::regclass
          AND rel.relname IN ('user_groups', 'user_user_permissions')
    LOOP
        EXECUTE format('ALTER TABLE %%I DROP CONSTRAINT %%I', r.relname, r.conname);
        EXECUTE format(
            'ALTER TABLE %%I ADD CONSTRAINT %%I FOREIGN KEY (user_id) REFERENCES "user" (id)'
            ' %s DEFERRABLE INITIALLY DEFERRED',
            r.relname, r.conname);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("beep_shared", "0001_initial")]

    operations = [
        migrations.RunSQL(_SWAP % "ON DELETE CASCADE", _SWAP % "ON DELETE NO ACTION"),
    ]
