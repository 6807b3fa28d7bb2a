"""Pushed authorization requests (RFC 9126): ``POST /oauth2/par`` and the ``request_uri`` it
hands out.

better-auth 1.7's oauth-provider has no PAR endpoint (only a ``requestUriResolver`` hook at
its authorize endpoint), so there is no row form to share: a pushed request is a
``verification`` row like an authorization code's, ``identifier`` the SHA-256 digest of the
random part of the ``request_uri``, ``value`` the JSON ``{"type": "par", "clientId", "query":
{...the authorization request...}}``.

The ``request_uri`` must be used within :data:`LIFETIME`; once the authorization endpoint has
read it, it lives as long as a sign-in and consent may take (:data:`STARTED_LIFETIME`), since
the browser comes back with it after each, and it is used up when a code (or an error) is
sent to the client.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import errors
from django.db import connections, router, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient, Verification
from beep_iam.models.verification import typed_value
from beep_iam.oauth2 import authorization_request, dpop, ratelimit
from beep_iam.oauth2.endpoint import (
    OAuth2Error,
    authenticate,
    endpoint_url,
    error_response,
    from_service,
    json_response,
    no_store,
    post_params,
)
from beep_iam.services import oauth_errors
from beep_iam.services.oauth_clients import match_redirect_uri
from beep_iam.services.secret_parameters import protect_secret_parameters
from beep_shared import crypto

PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME = timedelta(seconds=60)
STARTED_LIFETIME = timedelta(minutes=10)
TYPE = "par"
#: Client authentication, never part of the authorization request that is stored.
_CREDENTIALS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


class InvalidRequestUri(Exception):
    """An unknown, expired, used or foreign ``request_uri``: shown to the user, never
    redirected (the redirect URI is inside the request that cannot be read)."""


def required(client: OAuthClient) -> bool:
    """Must the client push its authorization requests (RFC 9126 5 and 6)?"""
    if iam_settings().oauth2_require_par:
        return True
    return client.registered("require_pushed_authorization_requests") is True


@sensitive_variables("token")
def push(client: OAuthClient, query: dict[str, str]) -> str:
    """Store the authorization request ``query`` of ``client``; return its ``request_uri``."""
    token = secrets.token_urlsafe(32)
    value = {"type": TYPE, "clientId": client.client_id, "query": query}
    Verification.objects.create(
        identifier=crypto.digest(token),
        value=json.dumps(value, separators=(",", ":")),
        expires_at=timezone.now() + LIFETIME,
    )
    return PREFIX + token


def _digest(request_uri: str) -> str:
    if not request_uri.startswith(PREFIX):
        raise InvalidRequestUri("The request_uri is not one this server issued.")
    return crypto.digest(request_uri.removeprefix(PREFIX))


def _query(value: dict[str, Any] | None, client_id: str | None) -> dict[str, str]:
    """The pushed request of a row's ``typed_value``, for ``client_id`` only."""
    if value is None:
        raise InvalidRequestUri("The request_uri is invalid or has expired.")
    if client_id is None or value.get("clientId") != client_id:
        raise InvalidRequestUri("The request_uri was pushed by another client.")
    query = value.get("query")
    if not isinstance(query, dict):
        raise InvalidRequestUri("The request_uri is invalid or has expired.")
    return {str(k): str(v) for k, v in query.items()}


def load(request_uri: str, client_id: str | None) -> dict[str, str]:
    """The authorization request pushed as ``request_uri`` by the client ``client_id``; the
    first read extends it to :data:`STARTED_LIFETIME`."""
    digest = _digest(request_uri)
    using = router.db_for_write(Verification)
    with transaction.atomic(using=using):
        row = (
            Verification.objects.using(using)
            .select_for_update()
            .filter(identifier=digest, expires_at__gt=timezone.now())
            .first()
        )
        if row is None:
            raise InvalidRequestUri("The request_uri is invalid, used or has expired.")
        value = typed_value(row.value, TYPE)
        query = _query(value, client_id)
        assert value is not None  # _query refused anything else
        if not value.get("started"):
            value["started"] = True
            row.value = json.dumps(value, separators=(",", ":"))
            row.expires_at = timezone.now() + STARTED_LIFETIME
            row.save(using=using, update_fields=["value", "expires_at"])
    return query


def replace(request_uri: str, query: dict[str, Any]) -> None:
    """Store ``query`` in place of the pushed request (sign-in asked for and done)."""
    using = router.db_for_write(Verification)
    with transaction.atomic(using=using):
        row = (
            Verification.objects.using(using)
            .select_for_update()
            .filter(identifier=_digest(request_uri))
            .first()
        )
        if row is not None:
            value = json.loads(row.value)
            value["query"] = query
            row.value = json.dumps(value, separators=(",", ":"))
            row.save(using=using, update_fields=["value"])


_CONSUME_SQL = """
DELETE FROM verification WHERE identifier = %s
RETURNING expires_at > now()
"""


def consume(request_uri: str) -> bool:
    """Use the ``request_uri`` up; False when another request already did (or it expired)."""
    using = router.db_for_write(Verification)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(_CONSUME_SQL, (_digest(request_uri),))
        row = cursor.fetchone()
    return row is not None and bool(row[0])


@csrf_exempt
@no_store
@require_POST
@protect_secret_parameters
@sensitive_variables("params")  # the parsed form: secrets, tokens, codes
@ratelimit.limit_ip("token")
def pushed_authorization_request(request: HttpRequest) -> HttpResponse:
    """RFC 9126 2: the client, authenticated as at the token endpoint, pushes the parameters
    of its authorization request, checked as the authorization endpoint checks them."""
    try:
        params = post_params(request)
        client, method = authenticate(request, params)
        ratelimit.check_client("token", client.client_id, method)
        if "request_uri" in params:  # RFC 9126 2.1
            raise errors.InvalidRequestError(description="request_uri must not be pushed")
        query = {k: v for k, v in params.items() if k not in _CREDENTIALS}
        query["client_id"] = client.client_id
        bind_to_proof(request, query)
        match_redirect_uri(
            client, query.get("redirect_uri"), openid=authorization_request.is_openid(client, query)
        )
        authorization_request.check(client, query)
        request_uri = push(client, query)
    except OAuth2Error as error:
        response = error_response(error)
    except oauth_errors.OAuthError as exc:
        response = error_response(from_service(exc))
    else:
        response = json_response(
            {"request_uri": request_uri, "expires_in": int(LIFETIME.total_seconds())}, status=201
        )
    for key, value in dpop.response_headers().items():
        response.setdefault(key, value)
    return response


def bind_to_proof(request: HttpRequest, query: dict[str, str]) -> None:
    """RFC 9449 10.1: a DPoP proof sent with the pushed request binds the code to its key,
    as ``dpop_jkt`` does; both at once must name the same key."""
    raw = dpop.proof_header(request)
    if raw is None:
        return
    proof = dpop.verify(raw, method="POST", url=endpoint_url("par"))
    asked = query.get("dpop_jkt")
    if asked is not None and not hmac.compare_digest(asked, proof.jkt):
        raise dpop.invalid_proof("dpop_jkt is not the thumbprint of the DPoP proof's key")
    query["dpop_jkt"] = proof.jkt
