"""The embedded bootstrap's roles: the bypass role logs in itself, the web role reaches none.

Runs ``_bootstrap`` against the test run's own embedded server, after breaking its roles
the way clusters of the older design were set up (bypass role NOLOGIN, granted to the
application's role).
"""

import psycopg
import pytest
from django.db import connection

from beep_embedded.bootstrap import APP_DATABASE, APP_ROLE, BYPASS_ROLE, SUPERUSER, _bootstrap

ROLES_SQL = """
SELECT r.rolcanlogin, r.rolbypassrls, r.rolsuper,
       pg_has_role(%s, r.oid, 'MEMBER'), pg_has_role(r.oid, %s::regrole, 'MEMBER')
FROM pg_roles r WHERE r.rolname = %s
"""


@pytest.mark.embedded  # the embedded server's own roles (deselected with DATABASE_URL)
@pytest.mark.django_db
def test_bootstrap_repairs_a_cluster_of_the_older_role_design():
    db = connection.settings_dict
    host, port = db["HOST"], db["PORT"]
    with psycopg.connect(
        host=host, port=port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as su:
        su.execute(f'ALTER ROLE "{BYPASS_ROLE}" NOLOGIN')
        su.execute(f'GRANT "{BYPASS_ROLE}" TO "{APP_ROLE}"')
        try:
            _bootstrap(str(host), str(port))
        finally:
            row = su.execute(ROLES_SQL, [APP_ROLE, APP_ROLE, BYPASS_ROLE]).fetchone()
            su.execute(f'ALTER ROLE "{BYPASS_ROLE}" LOGIN')
            su.execute(f'REVOKE "{BYPASS_ROLE}" FROM "{APP_ROLE}"')
    assert row is not None
    can_login, bypassrls, superuser, app_reaches_bypass, bypass_reaches_app = row
    assert can_login and bypassrls and not superuser
    assert not app_reaches_bypass and not bypass_reaches_app


@pytest.mark.embedded
@pytest.mark.django_db
def test_bootstrap_leaves_no_role_but_the_superuser_able_to_create_temporary_tables():
    # A temporary table outlives an injection on the server session and shadows the table
    # of its name (docs/rls.md, "Threat model"). Databases made before are repaired too.
    db = connection.settings_dict
    host, port = db["HOST"], db["PORT"]
    with psycopg.connect(
        host=host, port=port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as su:
        su.execute(f'GRANT TEMPORARY ON DATABASE "{APP_DATABASE}" TO PUBLIC, "{APP_ROLE}"')
        _bootstrap(str(host), str(port))
        may = su.execute(
            "SELECT r.rolname FROM pg_roles r"
            " WHERE has_database_privilege(r.oid, %s, 'TEMPORARY') AND NOT r.rolsuper"
            " AND r.rolname NOT LIKE 'pg\\_%%' ORDER BY 1",
            [APP_DATABASE],
        ).fetchall()
    assert may == []
