"""The fetcher over https to a loopback server whose certificate a throwaway CA signed (the
set-up the MCP SDK tests use for Client ID Metadata Documents): the certificate is verified,
through OpenSSL's trust store only, and the loopback rule still decides whether 127.0.0.1 may
be reached at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from beep_iam.oauth2 import fetch
from beep_iam.oauth2.fetch import FetchError
from tests.oauth2.servers import json_route, loopback_server
from tests.oauth2.tls import make_ca, trusted_https_server

DOC = {"client_id": "x"}


def loopback(allowed: bool) -> override_settings:
    return override_settings(
        BEEP_IAM={**getattr(settings, "BEEP_IAM", {}), "OAUTH2_FETCH_ALLOW_LOOPBACK": allowed}
    )


def test_a_certificate_from_the_trusted_throwaway_ca_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loopback(True), trusted_https_server(tmp_path, monkeypatch) as documents:
        documents.routes["/doc.json"] = json_route(DOC)
        fetched = fetch.fetch(documents.url("/doc.json"))
    assert json.loads(fetched.body) == DOC and fetched.address == "127.0.0.1"


def test_the_same_certificate_untrusted_is_a_tls_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    authority = make_ca(tmp_path)  # made, but trusted by nobody
    with loopback(True), loopback_server(authority.server_context) as documents:
        documents.routes["/doc.json"] = json_route(DOC)
        with pytest.raises(FetchError, match="TLS failed"):
            fetch.fetch(documents.url("/doc.json"))
        assert documents.hits == []


def test_a_trusted_certificate_does_not_open_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loopback(False), trusted_https_server(tmp_path, monkeypatch) as documents:
        documents.routes["/doc.json"] = json_route(DOC)
        with pytest.raises(FetchError, match="not public"):
            fetch.fetch(documents.url("/doc.json"))
        assert documents.hits == []
