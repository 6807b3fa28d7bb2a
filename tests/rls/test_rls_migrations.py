"""The policy migrations: written by makemigrations, shown by sqlmigrate, reversible."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddConstraint, AlterField, RemoveConstraint
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter
from django.test.utils import isolate_apps

from beep_shared.db.constraints import ForeignKeyConstraint
from beep_shared.models import Team, TenantModel
from beep_shared.rls.constraints import RowLevelSecurity
from beep_shared.rls.registry import tenant_models
from beep_shared.rls.status import inspect
from tests.owner import OWNER_ALIAS


def rls_constraints(model_state: ModelState) -> list[RowLevelSecurity]:
    return [c for c in model_state.options["constraints"] if isinstance(c, RowLevelSecurity)]


@pytest.mark.django_db
def test_the_applied_migrations_hold_the_policy_of_every_tenant_model():
    state = MigrationLoader(connection).project_state()
    for model in tenant_models():
        model_state = state.models[model._meta.app_label, model._meta.model_name]
        (policy,) = rls_constraints(model_state)
        assert policy.name == f"tenant_isolation_{model._meta.db_table}"
        assert policy.mode == model.rls_mode
        organization = model_state.fields["organization"]
        assert organization.null is (model.rls_mode == "nullable")


def team_with_mode(mode: str) -> type[models.Model]:
    """A copy of Team whose class says ``rls_mode = mode``, prepared like a real model."""
    own = {"name", "description", "slug", "metadata", "logo", "member_count"}
    hand_written = [
        c.clone()
        for c in Team._meta.constraints
        if not isinstance(c, RowLevelSecurity | ForeignKeyConstraint)
    ]
    attrs = {
        "__module__": __name__,
        "rls_mode": mode,
        **{f.name: f.clone() for f in Team._meta.local_fields if f.name in own},
        "Meta": type(
            "Meta",
            (),
            {
                "app_label": "beep_shared",
                "db_table": "team",
                "constraints": hand_written,
                "indexes": [i.clone() for i in Team._meta.indexes],
            },
        ),
    }
    with isolate_apps("beep_shared"):
        return type("Team", (TenantModel,), attrs)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("nullable", [AlterField, RemoveConstraint, AddConstraint]),
        ("none", [RemoveConstraint]),
        ("standard", []),
    ],
)
def test_changing_a_models_mode_yields_a_migration(mode, expected):
    current = ProjectState.from_apps(apps)
    changed = current.clone()
    changed.remove_model("beep_shared", "team")
    changed.add_model(ModelState.from_model(team_with_mode(mode)))

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    changes = MigrationAutodetector(current, changed).changes(graph)
    operations = [op for m in changes.get("beep_shared", []) for op in m.operations]
    assert sorted(type(op).__name__ for op in operations) == sorted(op.__name__ for op in expected)
    for operation in operations:
        if isinstance(operation, AddConstraint):
            assert operation.constraint == RowLevelSecurity(name="tenant_isolation_team", mode=mode)
        if isinstance(operation, AlterField):
            assert operation.name == "organization" and operation.field.null
    if operations:
        written = MigrationWriter(changes["beep_shared"][0]).as_string()
        assert "beep_shared.rls.constraints.RowLevelSecurity" in written or mode == "none"


@pytest.mark.django_db
def test_sqlmigrate_prints_the_policy_both_ways():
    forwards = StringIO()
    call_command("sqlmigrate", "beep_shared", "0001", stdout=forwards)
    # The initial migration creates the policy with the table (and unapplying it drops the
    # table, policy and all); removing the policy from a model that keeps its table (rls_mode
    # set to "none" later) is a RemoveConstraint, whose statements are these.
    state = MigrationLoader(connection).project_state(("beep_shared", "0001_initial"))
    removed = state.clone()
    remove = RemoveConstraint("team", "tenant_isolation_team")
    remove.state_forwards("beep_shared", removed)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        remove.database_forwards("beep_shared", editor, state, removed)
    backwards = StringIO("\n".join(editor.collected_sql))
    assert 'ALTER TABLE "team" ENABLE ROW LEVEL SECURITY' in forwards.getvalue()
    assert 'ALTER TABLE "team" FORCE ROW LEVEL SECURITY' in forwards.getvalue()
    assert (
        'CREATE POLICY "tenant_isolation_team" ON "team" AS PERMISSIVE FOR ALL TO PUBLIC '
        "USING (\"organization_id\" = NULLIF(current_setting('app.current_org_id', TRUE), "
        "'')::text)"
    ) in forwards.getvalue()
    assert 'DROP POLICY IF EXISTS "tenant_isolation_team" ON "team"' in backwards.getvalue()
    assert 'ALTER TABLE "team" DISABLE ROW LEVEL SECURITY' in backwards.getvalue()


def policy_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_policies WHERE policyname LIKE 'tenant_isolation_%'"
        )
        return cursor.fetchone()[0]


def default_privileges() -> int:
    """Default privileges for a BYPASSRLS role (the runtime role may have its own too)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_default_acl d WHERE EXISTS (SELECT FROM aclexplode("
            "d.defaclacl) a JOIN pg_roles r ON r.oid = a.grantee WHERE r.rolbypassrls)"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, databases=["default", OWNER_ALIAS])
def test_migrations_go_back_to_zero_and_forward_again():
    """As the tables' owner, who runs migrations; the application's role sees the result."""
    assert policy_count() == len(tenant_models()) and all(s.ok for s in inspect())
    assert default_privileges() == 2  # the bypass role's grants on future tables

    call_command("migrate", "beep_shared", "zero", database=OWNER_ALIAS, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('team'), to_regclass('member')")
        assert cursor.fetchone() == (None, None)
    assert policy_count() == 0 and default_privileges() == 0

    call_command("migrate", database=OWNER_ALIAS, verbosity=0)
    assert policy_count() == len(tenant_models()) and all(s.ok for s in inspect())
    assert default_privileges() == 2


def test_a_subclass_writing_its_own_meta_keeps_its_mode():
    with isolate_apps("beep_shared"):

        class Tenanted(TenantModel):
            rls_mode = "nullable"

            class Meta:
                abstract = True

        class Gadget(Tenanted):
            name = models.TextField()

            class Meta:
                app_label = "beep_shared"
                db_table = "gadget"
                constraints = [models.UniqueConstraint(fields=["name"], name="gadget_name_key")]

    (policy,) = [c for c in Gadget._meta.constraints if isinstance(c, RowLevelSecurity)]
    assert (policy.name, policy.mode) == ("tenant_isolation_gadget", "nullable")
    assert Gadget._meta.get_field("organization").null
    assert "gadget_org_idx" in {index.name for index in Gadget._meta.indexes}


def test_an_unknown_mode_is_refused_when_the_model_is_defined():
    with (
        pytest.raises(ImproperlyConfigured, match="rls_mode is 'strict'"),
        isolate_apps("beep_shared"),
    ):

        class Widget(TenantModel):
            rls_mode = "strict"

            class Meta:
                app_label = "beep_shared"
                db_table = "widget"
