"""One home for the OAuth client rules (``beep_iam.validators``): ``OAuthClient.clean()``
reports every broken rule per field, and the models do not import the services."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

import beep_iam
from beep_iam.models import OAuthClient
from beep_iam.services import oauth_clients

PACKAGE = Path(beep_iam.__file__).parent

pytestmark = pytest.mark.django_db  # full_clean() checks the constraints in the database


def test_clean_reports_every_error_of_every_field():
    client = OAuthClient(
        client_id="x",
        redirect_uris=[
            "http://a.example.com/cb",
            "https://b.example.com/*",
            "https://ok.example/cb",
        ],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "client_credentials"],
        response_types=[],
        scopes=["ok", "has space", ""],
        jwks="{}",
        jwks_uri="https://169.254.169.254/keys",
        icon="http://icons.example.com/a.png",
    )
    with pytest.raises(ValidationError) as caught:
        client.full_clean()
    errors = caught.value.message_dict
    assert len(errors["redirect_uris"]) == 2
    assert "http://a.example.com/cb" in errors["redirect_uris"][0]
    assert "wildcards" in errors["redirect_uris"][1]
    assert len(errors["scopes"]) == 2
    assert errors["response_types"] == [
        "must include 'code' when grant_types has 'authorization_code'."
    ]
    assert errors["grant_types"] == [
        "a public client (auth method 'none') cannot use 'client_credentials'."
    ]
    assert "public host" in errors["jwks_uri"][0]  # the field rule, not also the cross one
    assert len(errors["jwks_uri"]) == 1
    assert "must use https" in errors["icon"][0]


def test_clean_reports_cross_field_rules_together():
    client = OAuthClient(
        client_id="x",
        redirect_uris=[],
        token_endpoint_auth_method="private_key_jwt",
        grant_types=["authorization_code"],
        response_types=[],
    )
    with pytest.raises(ValidationError) as caught:
        client.full_clean()
    assert {"redirect_uris", "response_types", "jwks_uri"} <= set(caught.value.message_dict)


def test_clean_normalises_lists_and_derives_public():
    client = OAuthClient(
        client_id="x",
        redirect_uris=["https://a.example.com/cb"],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "authorization_code"],
        response_types=["code"],
        scopes=["openid", "email", "openid"],
    )
    client.full_clean()
    assert client.scopes == ["openid", "email"]
    assert client.grant_types == ["authorization_code"]
    assert client.public is True


def test_register_client_refuses_a_string_where_a_list_belongs_by_name():
    with pytest.raises(ValidationError) as caught:
        oauth_clients.register_client(redirect_uris="https://a.example.com/cb")
    assert "must be a list of URIs" in " ".join(caught.value.message_dict["redirect_uris"])
    assert not OAuthClient.objects.exists()


def test_register_client_stores_normalised_values_from_a_generator():
    registered = oauth_clients.register_client(
        redirect_uris=["https://a.example.com/cb"], scopes=(s for s in ["a", "b", "a"])
    )
    registered.client.refresh_from_db()
    assert registered.client.scopes == ["a", "b"]


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports at run time (not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_models_do_not_import_services_and_validators_sit_below_both():
    for path in (PACKAGE / "models").glob("*.py"):
        assert not {m for m in _imports(path) if m.startswith("beep_iam.services")}, path
    below = _imports(PACKAGE / "validators.py") | _imports(PACKAGE / "choices.py")
    assert not {m for m in below if m.startswith(("beep_iam.models", "beep_iam.services"))}, below
