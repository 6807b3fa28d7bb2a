"""docs/settings.md, the one page of settings and checks, against the code; check ids one
condition each; checks and receivers registered in ``AppConfig.ready()`` only."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.checks.registry import registry

from beep_iam import conf as iam_conf
from beep_shared import conf as shared_conf

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("beep_shared", "beep_iam", "beep_embedded", "config")
CHECK_ID = re.compile(r"^[a-z_]+\.[CEWID]\d{3}$")
SETTINGS_DOC = ROOT / "docs" / "settings.md"


def sources() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def check_id_sites() -> list[tuple[str, str]]:
    """(id, file:line) of every call that passes a literal check id as ``id=``."""
    sites = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                value = keyword.value
                if (
                    keyword.arg == "id"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and CHECK_ID.match(value.value)
                ):
                    sites.append((value.value, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return sites


def test_every_check_id_is_raised_from_one_place():
    sites = check_id_sites()
    assert len(sites) > 20, "the scan found no checks"
    counts = Counter(check_id for check_id, _ in sites)
    reused = {i: [where for j, where in sites if j == i] for i, n in counts.items() if n > 1}
    assert reused == {}, f"check ids used for more than one condition: {reused}"


def test_every_check_id_is_documented_in_the_settings_page():
    documented = set(re.findall(r"`([a-z_]+\.[CEWID]\d{3})`", SETTINGS_DOC.read_text()))
    raised = {check_id for check_id, _ in check_id_sites()}
    assert documented == raised


def test_every_setting_key_is_documented_in_the_settings_page():
    page = SETTINGS_DOC.read_text()
    keys = [f"BEEP_SHARED['{key}']" for key in shared_conf.DEFAULTS]
    keys += [f"BEEP_IAM['{key}']" for key in iam_conf.DEFAULTS]
    keys += [f"`{name}`" for name in shared_conf.FORMER_SETTINGS]
    assert [key for key in keys if key.replace("'", '"') not in page] == []


def test_the_settings_page_shows_the_defaults():
    blocks = re.findall(r"```python\n(.*?)```", SETTINGS_DOC.read_text(), re.S)
    namespace: dict[str, Any] = {}
    for code in blocks:
        exec(code, namespace)
    assert set(namespace["BEEP_SHARED"]) == set(shared_conf.DEFAULTS)
    assert set(namespace["BEEP_IAM"]) == set(iam_conf.DEFAULTS)
    databases: dict[str, dict[str, str]] = {"default": {}, "bypass": {}}
    assert shared_conf.load(namespace["BEEP_SHARED"], databases) == shared_conf.load({}, databases)
    assert iam_conf.load(namespace["BEEP_IAM"]) == iam_conf.load({})


def test_checks_are_registered_once_by_the_apps():
    ours = [
        check
        for check in registry.registered_checks | registry.deployment_checks
        if check.__module__.split(".")[0] in PACKAGES
    ]
    names = Counter(f"{check.__module__}.{check.__qualname__}" for check in ours)
    assert names == {
        "beep_shared.conf.check_settings": 1,
        "beep_shared.rls.checks.check_bypass_configuration": 1,
        "beep_shared.checks.check_host_project_settings": 1,
        "beep_shared.checks.check_login_honours_user_validity": 1,
        "beep_shared.checks.check_database_reachable": 1,
        "beep_shared.rls.checks.check_row_level_security": 1,
        "beep_iam.conf.check_settings": 1,
        "beep_iam.better_auth.checks.check_co_tenancy": 1,
        "beep_iam.better_auth.grants.check_unnamed_role_privileges": 1,
        "beep_iam.better_auth.grants.check_named_role_privileges": 1,
        "beep_iam.oauth2.checks.check_issuer": 1,
        "config.checks.check_secret_key": 1,
    }


def module_level_registrations(path: Path) -> list[str]:
    """Decorators and calls at a module's top level that register a check or a receiver."""
    found = []
    for node in ast.parse(path.read_text(), str(path)).body:
        decorators = getattr(node, "decorator_list", [])
        for decorator in decorators:
            text = ast.unparse(decorator)
            if "checks.register" in text or text.startswith("receiver"):
                found.append(f"{path.relative_to(ROOT)} @{text}")
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            text = ast.unparse(node.value.func)
            if text.endswith((".connect", "checks.register")):
                found.append(f"{path.relative_to(ROOT)} {text}(...)")
    return found


def test_no_module_registers_checks_or_receivers_on_import():
    found = [line for path in sources() for line in module_level_registrations(path)]
    # class_prepared must be connected before the models are imported, i.e. before ready().
    assert found == ["beep_shared/db/model_hooks.py class_prepared.connect(...)"]


def test_a_project_without_pgtrigger_is_told_before_migrate(monkeypatch):
    # Walkthrough (session 11): check was silent and migrate stopped half-way with a TypeError.
    from django.apps import apps

    from beep_shared.checks import check_host_project_settings

    assert "beep_shared.E005" not in {m.id for m in check_host_project_settings(None)}
    installed = apps.is_installed
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "pgtrigger" and installed(name))
    (message,) = [m for m in check_host_project_settings(None) if m.id == "beep_shared.E005"]
    assert "'pgtrigger'" in message.msg and "INSTALLED_APPS" in message.hint
