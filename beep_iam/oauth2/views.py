"""The OAuth 2.1 / OpenID Connect endpoints, on the paths better-auth's oauth-provider uses.

Protocol pieces come from Authlib's framework-agnostic core (RFC 6749 errors, RFC 7636's S256
transform, OIDC's ``at_hash``) and joserfc (JWS); every rule about clients, tokens and
consent is the services' (``beep_iam.services``), called, not copied.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import errors
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import DisallowedRedirect
from django.db import router, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from joserfc import jwt
from joserfc.jwk import KeySet

from beep_iam.conf import OIDC_SCOPES, iam_settings
from beep_iam.models import (
    DeviceCode,
    OAuthClient,
    OAuthRefreshToken,
    OAuthResource,
    Verification,
)
from beep_iam.models.oauth import GrantType, TokenEndpointAuthMethod
from beep_iam.oauth2 import (
    access_jwt,
    authorization_request,
    cimd,
    claims,
    client_assertion,
    codes,
    device,
    dpop,
    jose,
    keys,
    par,
    ratelimit,
    resources,
    sign_in,
    tenancy,
)
from beep_iam.oauth2.endpoint import (
    NO_STORE,
    OAuth2Error,
    authenticate,
    challenge_params,
    endpoint_url,
    error_response,
    from_service,
    invalid_client,
    issuer,
    json_response,
    no_store,
    post_params,
    scope_list,
    single_values,
)
from beep_iam.oauth2.metadata import SELF_REGISTERED
from beep_iam.oauth2.text import printable
from beep_iam.services import oauth_errors, oauth_tokens
from beep_iam.services.oauth_clients import match_redirect_uri
from beep_iam.services.oauth_consent import consent_covers, grant_consent
from beep_iam.services.prepared import user_by_pk
from beep_iam.services.secret_parameters import protect_secret_parameters
from beep_iam.validators import is_private_use_uri

CONSENT_TEMPLATE = "beep_iam/oauth2/consent.html"
ERROR_TEMPLATE = "beep_iam/oauth2/error.html"


# --- token endpoint -------------------------------------------------------------------------


@csrf_exempt
@no_store
@require_POST
@protect_secret_parameters
@sensitive_variables("params")  # the parsed form: secrets, tokens, codes
@ratelimit.limit_ip("token")
def token(request: HttpRequest) -> HttpResponse:
    """RFC 6749 section 3.2: ``authorization_code`` (+PKCE), ``refresh_token``,
    ``client_credentials``."""
    try:
        params = post_params(request)
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise errors.InvalidRequestError(description="grant_type is required")
        handler = _GRANTS.get(grant_type)
        if handler is None:
            raise errors.UnsupportedGrantTypeError(printable(grant_type))
        # A grant that may issue an ID token reads its key with the client.
        key_read = None
        if grant_type in _ID_TOKEN_GRANTS:
            key_read = keys.NewestKeyRead(iam_settings().oauth2_id_token_signing_alg)
        client, method = authenticate(request, params, along=key_read)
        ratelimit.check_client("token", client.client_id, method)
        with dpop.token_request(request, client), keys.reading_along(key_read):
            body = handler(client, params)
    except OAuth2Error as error:
        response = error_response(error)
    except oauth_errors.OAuthError as exc:
        response = error_response(from_service(exc))
    else:
        response = json_response(body)  # no_store adds RFC 6749 5.1's headers
    for key, value in dpop.response_headers().items():
        response.setdefault(key, value)
    return response


def _token_body(issued: oauth_tokens.IssuedTokens) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
        "scope": " ".join(issued.scopes),
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return body


@sensitive_variables("body", "issued")
def _with_resource(
    body: dict[str, Any],
    client: OAuthClient,
    policy: resources.Policy,
    issued: oauth_tokens.IssuedTokens,
    **subject: Any,
) -> dict[str, Any]:
    """``body`` with a JWT access token for ``policy``'s audience, when it has one (RFC 8707:
    a named resource gets an RFC 9068 token; ``issued`` then holds no opaque one)."""
    if policy.audience is not None:
        body["access_token"], body["expires_in"] = access_jwt.issue(
            client, policy, scopes=issued.scopes, confirmation=issued.confirmation, **subject
        )
    return body


def _may_refresh(client: OAuthClient) -> bool:
    try:
        oauth_tokens.check_grant(client, GrantType.REFRESH_TOKEN)
    except oauth_errors.UnauthorizedClient:
        return False
    return True


def machine_scopes(client: OAuthClient, requested: list[str] | None) -> list[str]:
    """The scopes a client may get for itself: its ``client_credentials_scopes`` minus the
    user-delegated ones; none registered means none at all (fail closed). Validation refuses
    such scopes where a client is saved (validators); rows other tools wrote may still hold
    them, so they are dropped here too."""
    allowed = [s for s in (client.client_credentials_scopes or []) if s not in OIDC_SCOPES]
    if not allowed:
        raise errors.UnauthorizedClientError(
            description="the client has no scopes registered for client_credentials"
        )
    if requested is None:
        return allowed
    extra = [s for s in requested if s not in allowed]
    if extra:
        raise errors.InvalidScopeError(
            description=f"scope(s) {', '.join(extra)} not allowed for client_credentials"
        )
    return requested


@sensitive_variables("params", "issued")
def _client_credentials(client: OAuthClient, params: dict[str, str]) -> dict[str, Any]:
    if client.token_endpoint_auth_method == TokenEndpointAuthMethod.NONE:
        raise errors.UnauthorizedClientError(description="public clients have no own access")
    oauth_tokens.check_grant(client, GrantType.CLIENT_CREDENTIALS)
    scopes = machine_scopes(client, scope_list(params.get("scope")))
    policy = resources.resolve(client, resources.requested(params), scopes)
    confirmation, _ = dpop.binding(client)
    issued = oauth_tokens.issue_tokens(
        client,
        scopes=policy.scopes,
        resources=policy.resources or None,
        opaque_access=policy.audience is None,
        confirmation=confirmation,
    )
    return _with_resource(_token_body(issued), client, policy, issued)


@sensitive_variables("params", "code")
def _authorization_code(client: OAuthClient, params: dict[str, str]) -> dict[str, Any]:
    oauth_tokens.check_grant(client, GrantType.AUTHORIZATION_CODE)
    code = params.get("code")
    if code is None:
        raise errors.InvalidRequestError(description="code is required")
    failure: Exception | None = None
    # One transaction from redemption to issued tokens (see codes.redeem_code), committed even
    # when the redemption fails: the code is used up, a replay's revocations stand.
    with transaction.atomic(using=router.db_for_write(Verification)):
        grant = codes.redeem_code(code)
        if grant is None:
            failure = errors.InvalidGrantError(description="invalid, expired or already used code")
        else:
            try:
                return _redeem(client, params, grant)
            except (OAuth2Error, oauth_errors.OAuthError) as exc:
                failure = exc
    assert failure is not None
    raise failure


@sensitive_variables("params", "grant")
def _redeem(client: OAuthClient, params: dict[str, str], grant: codes.CodeGrant) -> dict[str, Any]:
    if grant.client_id != client.client_id:
        raise errors.InvalidGrantError(description="the code was issued to another client")
    if params.get("redirect_uri") != grant.query.get("redirect_uri"):
        raise errors.InvalidGrantError(description="redirect_uri differs from the request's")
    challenge = grant.query.get("code_challenge")
    verifier = params.get("code_verifier")
    if challenge is not None or verifier is not None:
        if challenge is None or verifier is None:
            raise errors.InvalidGrantError(description="PKCE: code_verifier does not match")
        if not authorization_request.PKCE_VALUE.fullmatch(verifier):
            raise errors.InvalidRequestError(
                description="code_verifier must be 43 to 128 unreserved characters (RFC 7636)"
            )
        computed = create_s256_code_challenge(verifier)
        if grant.query.get("code_challenge_method") != "S256" or not hmac.compare_digest(
            computed.encode(), str(challenge).encode()
        ):
            raise errors.InvalidGrantError(description="PKCE: code_verifier does not match")
    elif client.token_endpoint_auth_method == TokenEndpointAuthMethod.NONE:
        raise errors.InvalidGrantError(description="PKCE is required for public clients")
    user = user_by_pk(grant.user_id)
    if user is None:
        raise errors.InvalidGrantError(description="the code's user no longer exists")
    auth_time = (
        dt.datetime.fromtimestamp(grant.auth_time_ms / 1000, tz=dt.UTC)
        if isinstance(grant.auth_time_ms, int | float)
        else None
    )
    authorized = grant.resource or None
    policy = resources.resolve(
        client, resources.within(resources.requested(params), authorized), grant.scopes
    )
    return _user_tokens(
        client,
        user,
        policy,
        with_refresh="offline_access" in grant.scopes and _may_refresh(client),
        resources_bound=authorized,
        dpop_jkt=grant.query.get("dpop_jkt"),
        session_id=grant.session_id or None,
        reference_id=grant.reference_id,
        auth_time=auth_time,
        authorization_code_id=grant.id,
        nonce=grant.query.get("nonce"),
    )


@sensitive_variables("params", "issued", "body", "raw")
def _refresh_token(client: OAuthClient, params: dict[str, str]) -> dict[str, Any]:
    raw = params.get("refresh_token")
    if raw is None:
        raise errors.InvalidRequestError(description="refresh_token is required")
    asked = scope_list(params.get("scope"))
    requested = resources.requested(params)
    policies: list[resources.Policy] = []

    def plan(token: OAuthRefreshToken) -> oauth_tokens.Rotation:
        # Under the rotation's lock, from the token it read: a refused resource leaves the
        # token unused, and the token's resources cost no statement of their own.
        wanted = resources.within(requested, token.resources)
        policy = resources.resolve(client, wanted, asked or token.scopes)
        policies.append(policy)
        return oauth_tokens.Rotation(
            scopes=policy.scopes if wanted else asked,
            opaque_access=policy.audience is None,
            refresh_lifetime=policy.refresh_lifetime,
        )

    # RefreshTokenReused arrives here after the service committed the family's revocation.
    issued = oauth_tokens.rotate_refresh_token(
        raw, client_id=client.client_id, bind=dpop.refresh_binding, plan=plan
    )
    (policy,) = policies
    refresh = issued.refresh
    body = _with_resource(
        _token_body(issued),
        client,
        policy,
        issued,
        user_id=refresh and refresh.user_id,
        session_id=refresh and refresh.session_id,
        reference_id=refresh and refresh.reference_id,
    )
    if "openid" in issued.scopes and issued.refresh is not None:
        body["id_token"] = claims.id_token(
            alg=claims.id_token_alg(client),
            user=issued.refresh.user,  # loaded with the token under its lock
            client_id=client.client_id,
            scopes=issued.scopes,
            access_token=body["access_token"],
            auth_time=issued.refresh.auth_time,
            session_id=issued.refresh.session_id,
        )
    return body


def _device_code(client: OAuthClient, params: dict[str, str]) -> dict[str, Any]:
    return device.token_grant(client, params, _device_tokens)


@sensitive_variables("params")
def _device_tokens(client: OAuthClient, params: dict[str, str], row: DeviceCode) -> dict[str, Any]:
    """The tokens of an approved device code (RFC 8628 3.5): its user, its scopes."""
    user = row.user
    assert user is not None  # CHECK device_code_approved_has_user; deleting the user cascades
    wanted = resources.within(resources.requested(params), row.resources)
    policy = resources.resolve(client, wanted, (row.scope or "").split())
    return _user_tokens(
        client,
        user,
        policy,
        with_refresh="offline_access" in policy.scopes and _may_refresh(client),
        resources_bound=policy.resources or None,
    )


@sensitive_variables("issued", "body")
def _user_tokens(
    client: OAuthClient,
    user: Any,
    policy: resources.Policy,
    *,
    with_refresh: bool,
    resources_bound: list[str] | None,
    dpop_jkt: str | None = None,
    session_id: str | None = None,
    reference_id: str | None = None,
    auth_time: dt.datetime | None = None,
    authorization_code_id: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """The token response of a grant that ``user`` authorized, for ``policy``'s scopes:
    tokens bound as :func:`dpop.binding` says, a JWT access token for a named resource, an
    ID token with ``openid``. The authorization code and device code grants end here."""
    scopes = policy.scopes
    confirmation, refresh_confirmation = dpop.binding(client, dpop_jkt)
    issued = oauth_tokens.issue_tokens(
        client,
        scopes=scopes,
        user=user,
        session=session_id,
        with_refresh=with_refresh,
        reference_id=reference_id,
        resources=resources_bound,
        auth_time=auth_time,
        authorization_code_id=authorization_code_id,
        opaque_access=policy.audience is None,
        refresh_lifetime=policy.refresh_lifetime,
        confirmation=confirmation,
        refresh_confirmation=refresh_confirmation,
    )
    body = _with_resource(
        _token_body(issued),
        client,
        policy,
        issued,
        user_id=str(user.pk),
        session_id=session_id,
        reference_id=reference_id,
    )
    if "openid" in scopes:
        body["id_token"] = claims.id_token(
            alg=claims.id_token_alg(client),
            user=user,
            client_id=client.client_id,
            scopes=scopes,
            access_token=body["access_token"],
            nonce=nonce,
            auth_time=auth_time,
            session_id=session_id,
        )
    return body


_GRANTS = {
    GrantType.AUTHORIZATION_CODE.value: _authorization_code,
    GrantType.REFRESH_TOKEN.value: _refresh_token,
    GrantType.CLIENT_CREDENTIALS.value: _client_credentials,
    GrantType.DEVICE_CODE.value: _device_code,
}
_ID_TOKEN_GRANTS = frozenset(
    {GrantType.AUTHORIZATION_CODE.value, GrantType.REFRESH_TOKEN.value, GrantType.DEVICE_CODE.value}
)


# --- authorization endpoint -----------------------------------------------------------------


class _ShowError(Exception):
    """An error the user sees on a page: the redirect URI is not (yet) trusted."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status = status


class _ClientRedirect(HttpResponseRedirect):
    """A redirect to a URI the client registered, which may be a native app's private-use
    scheme (RFC 8252 7.1: ``com.example.app:/cb``), beyond Django's http/https/ftp; never
    to a relative reference (a row no validator saw), which a browser resolves against this
    server."""

    def __init__(self, to: str) -> None:
        scheme = urlsplit(to).scheme  # lower-cased, as Django's check reads it
        if not scheme:
            raise DisallowedRedirect(f"Not an absolute redirect URI: {to[:100]!r}")
        if is_private_use_uri(to):  # any other scheme stays a DisallowedRedirect (400)
            self.allowed_schemes = [*HttpResponseRedirect.allowed_schemes, scheme]
        super().__init__(to)


def _redirect(uri: str, params: dict[str, str]) -> HttpResponseRedirect:
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    response = _ClientRedirect(urlunsplit(parts._replace(query=query)))
    response["Cache-Control"] = "no-store"
    return response


def _error_redirect(uri: str, error: OAuth2Error, state: str | None) -> HttpResponseRedirect:
    params = {"error": error.error or "invalid_request"}
    description = error.get_error_description()
    if description:
        params["error_description"] = description
    if state is not None:
        params["state"] = state
    params["iss"] = issuer()  # RFC 9207
    return _redirect(uri, params)


def _prove_client(request: HttpRequest, params: dict[str, str]) -> tuple[OAuthClient, str]:
    """The client and redirect URI of the request; until both are proven errors are shown,
    never redirected (RFC 6749 4.1.2.1)."""
    client_id = params.get("client_id")
    if client_id is None:
        raise _ShowError("client_id is missing.")
    try:
        # Each fetch is an outbound request that anyone can start with a GET: per IP limit.
        cimd.discover(client_id, before_fetch=lambda: ratelimit.check_ip(request, "cimd_fetch"))
    except cimd.DiscoveryError as exc:
        raise _ShowError(f"{exc.description}.") from None
    client = OAuthClient.objects.filter(
        client_id=client_id, disabled=False, deleted_at__isnull=True
    ).first()
    if client is None:
        raise _ShowError("The application is unknown or disabled.")
    try:
        redirect_uri = match_redirect_uri(
            client,
            params.get("redirect_uri"),
            openid=authorization_request.is_openid(client, params),
        )
    except oauth_errors.InvalidRequest as exc:
        raise _ShowError(f"{exc.description}.") from None
    return client, redirect_uri


def _login_again(
    request: HttpRequest, params: dict[str, str], request_uri: str | None = None
) -> HttpResponse:
    # The login page returns here without "login" in prompt or max_age, or it would ask
    # forever, but with the signed marker of this redirect (sign_in.must_sign_in reads it).
    prompts = set((params.get("prompt") or "").split()) - sign_in.SIGN_IN_PROMPTS
    again: dict[str, Any] = {
        k: v for k, v in params.items() if k not in ("prompt", "max_age", sign_in.PARAM)
    }
    if prompts:
        again["prompt"] = " ".join(sorted(prompts))
    again[sign_in.PARAM] = sign_in.marker(request)
    if request_uri is not None:  # the pushed request changes, the URL stays
        par.replace(request_uri, again)
        again = {"client_id": params["client_id"], "request_uri": request_uri}
    elif resources.PARAM in again:  # repeated, as sent
        again[resources.PARAM] = again[resources.PARAM].split(resources.SEPARATOR)
    return redirect_to_login(f"{request.path}?{urlencode(again, doseq=True)}")


#: Fields of the consent form: a POST with either answers; any other POST asks.
_CONSENT_FORM = ("decision", "csrfmiddlewaretoken")


@never_cache
@xframe_options_deny
@require_http_methods(["GET", "POST"])
@csrf_exempt  # the consent POST is checked behind; a relying party's POST only asks
def authorize(request: HttpRequest) -> HttpResponse:
    """OIDC Core 3.1.2.1: an authorization request may come by GET or by a form POST (a
    relying party's auto-submitted form). The POST is answered with a 303 to the same
    request as a GET, so one path reads every request and the browser sends its (SameSite)
    session cookie, which a cross-site POST does not carry."""
    if request.method == "POST" and not any(field in request.POST for field in _CONSENT_FORM):
        # The form's parameters; a POST with none asks what its URL says (never the two
        # merged: one source of parameters, as for a GET).
        fields = list(request.POST.lists())
        query = urlencode(fields, doseq=True) if fields else request.META.get("QUERY_STRING", "")
        response = HttpResponseRedirect(f"{request.path}?{query}")
        response.status_code = 303
        return response
    return _authorize(request)


@csrf_protect  # the consent POST, whatever the host project's middleware
def _authorize(request: HttpRequest) -> HttpResponse:
    """RFC 6749 4.1 with PKCE (RFC 7636, S256 only), OIDC ``nonce``/``prompt``/``max_age``
    and RFC 9207's ``iss``. GET asks; POST (the consent form, CSRF-protected) answers. The
    request's parameters are always the query string, validated afresh each time, or the
    request pushed to ``/oauth2/par`` (RFC 9126) that its ``request_uri`` names."""
    try:
        if request.method == "POST":
            ratelimit.check_ip(request, "consent")
        params = single_values(request.GET)
    except ratelimit.TooManyRequests as error:
        return _too_many(request, error)
    except OAuth2Error as error:
        return _error_page(request, error.description or "Malformed request.")
    request_uri = params.get("request_uri")
    if request_uri is not None:
        # RFC 9126 4: the pushed parameters only; any other in the query is ignored.
        try:
            params = par.load(request_uri, params.get("client_id"))
        except par.InvalidRequestUri as exc:
            return _error_page(request, str(exc))

    def answer(response: HttpResponse) -> HttpResponse:
        # A pushed request is used up by its answer to the client (RFC 9126 4: one-time use).
        if request_uri is not None:
            par.consume(request_uri)
        return response

    try:
        client, redirect_uri = _prove_client(request, params)
    except ratelimit.TooManyRequests as error:  # a client metadata document's fetch
        return _too_many(request, error)
    except _ShowError as exc:
        return _error_page(request, exc.description, exc.status)
    state = params.get("state")
    user = request.user

    def refuse(error: OAuth2Error) -> HttpResponse:
        # RFC 9700 4.11.2: an error is sent to the redirect URI by itself only when someone
        # vouches for it, or the server redirects anyone anywhere a self-registered client
        # names.
        if _vouched_for(client, user):
            return answer(_error_redirect(redirect_uri, error, state))
        return answer(_error_page(request, f"{error.description or error.error}."))

    try:
        if request_uri is None and par.required(client):
            raise errors.InvalidRequestError(
                description="this client must push its authorization requests (RFC 9126)"
            )
        scopes, prompts, wanted = authorization_request.check(client, params)
    except OAuth2Error as error:
        return refuse(error)
    except oauth_errors.OAuthError as exc:
        return refuse(from_service(exc))
    if not user.is_authenticated:
        if "none" in prompts:
            return refuse(errors.OAuth2Error(error="login_required"))
        return _login_again(request, params, request_uri)
    if sign_in.impersonating(request):
        return _error_page(request, sign_in.IMPERSONATION_REFUSED, 403)
    # On the consent POST too: it answers the same request, so the same sign-in is owed.
    if sign_in.must_sign_in(request, params, prompts):
        if "none" in prompts:  # OIDC Core 3.1.2.1: no login page for prompt=none
            return refuse(errors.OAuth2Error(error="login_required"))
        return _login_again(request, params, request_uri)
    if request.method == "POST":
        try:
            ratelimit.check_client("consent", client.client_id, user_id=str(user.pk))
        except ratelimit.TooManyRequests as error:
            return _too_many(request, error)
    # What the grant is for (an organization: its tokens run as that tenant), as better-auth's
    # postLogin.consentReferenceId chooses it.
    reference_id = tenancy.consent_reference_id(request, user, scopes)
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision != "allow":
            # The user saw the consent page, which names the client and where it returns to.
            denied = errors.AccessDeniedError(description="the user denied access")
            return answer(_error_redirect(redirect_uri, denied, state))
        try:
            grant_consent(client, user, scopes, resources=wanted, reference_id=reference_id)
        except oauth_errors.OAuthError as exc:
            return refuse(from_service(exc))
    # prompt=consent asks even for a skip_consent client (OIDC Core 3.1.2.1), as better-auth.
    elif "consent" in prompts or (
        not client.skip_consent
        and not consent_covers(client, user, scopes, resources=wanted, reference_id=reference_id)
    ):
        if "none" in prompts:
            return refuse(errors.OAuth2Error(error="consent_required"))
        return _consent_page(request, client, scopes, wanted, redirect_uri)
    if request_uri is not None and not par.consume(request_uri):
        return _error_page(request, "The request_uri has been used already.")
    beep_session = getattr(request, "beep_session", None)
    # The request as sent: a redirect_uri it named must be repeated at the token endpoint,
    # one it left out must not (RFC 6749 4.1.3), as better-auth checks it.
    signed_in = sign_in.signed_in_at(request)
    code = codes.issue_code(
        {k: v for k, v in params.items() if k != sign_in.PARAM},
        user_id=str(user.pk),
        session_id=str(getattr(beep_session, "pk", "") or ""),
        auth_time_ms=int(signed_in * 1000) if signed_in is not None else None,
        resource=wanted,
        reference_id=reference_id,
    )
    response_params = {"code": code}
    if state is not None:
        response_params["state"] = state
    response_params["iss"] = issuer()
    return _redirect(redirect_uri, response_params)


SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are",
    "profile": "See your name and picture",
    "email": "See your email address",
    "offline_access": "Keep access while you are away",
}


def _https(url: str | None) -> str | None:
    # Client-supplied links: https only, so no javascript: or data: URL reaches the page.
    return url if url and url.lower().startswith("https://") else None


def _document_url(client: OAuthClient) -> str | None:
    """The URL of a metadata document's client (its client_id), else None."""
    return client.client_id if client.client_discovery_id == cimd.DISCOVERY_ID else None


def _self_registered(client: OAuthClient) -> bool:
    """A client nobody vouches for: one that registered itself, or a metadata document's."""
    return _document_url(client) is not None or client.registered(SELF_REGISTERED) is True


def who_vouches(client: OAuthClient) -> dict[str, Any]:
    """What a page that asks the user about ``client`` says of who vouches for it (template
    ``beep_iam/oauth2/vouch.html``): the consent page and the device page alike."""
    return {"self_registered": _self_registered(client), "described_at": _document_url(client)}


def _vouched_for(client: OAuthClient, user: Any) -> bool:
    """Whether errors may go to the client's redirect URI without the user's say: the operator
    registered the client, or the user consented to it before."""
    if not _self_registered(client):
        return True
    return bool(user.is_authenticated) and consent_covers(client, user, ())


def _returns_to(redirect_uri: str) -> str:
    """Where the user goes back to: the redirect URI's host, or for a private-use URI, which
    has none, its scheme (the app's name)."""
    parts = urlsplit(redirect_uri)
    return parts.netloc or parts.scheme


def _consent_action(request: HttpRequest, scopes: list[str]) -> str:
    """Where the consent form posts: this request, holding the scopes the page shows when the
    request named none (their default is the client's scopes, which may change before the
    user answers). A pushed request holds them already."""
    query = request.GET.copy()
    if "request_uri" not in query and not query.get("scope"):
        query["scope"] = " ".join(scopes)
    return f"{request.path}?{query.urlencode()}"


def _consent_page(
    request: HttpRequest,
    client: OAuthClient,
    scopes: list[str],
    wanted: list[str] | None,
    redirect_uri: str,
) -> HttpResponse:
    response = render(
        request,
        CONSENT_TEMPLATE,
        {
            "client": client,
            **who_vouches(client),
            # Where "Allow" and "Deny" both send the user.
            "returns_to": _returns_to(redirect_uri),
            "icon": _https(client.icon),
            "links": [
                (label, url)
                for label, url in (
                    ("Website", _https(client.uri)),
                    ("Privacy policy", _https(client.policy)),
                    ("Terms of service", _https(client.tos)),
                )
                if url
            ],
            "scopes": [(s, SCOPE_DESCRIPTIONS.get(s, s)) for s in scopes],
            "resources": resources.shown(wanted),
            "action": _consent_action(request, scopes),
        },
    )
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def _too_many(request: HttpRequest, error: ratelimit.TooManyRequests) -> HttpResponse:
    response = _error_page(request, "Too many requests; please try again later.", 429)
    response["Retry-After"] = str(error.retry_after)
    return response


def _error_page(
    request: HttpRequest, description: str, status: int = 400, *, sign_out: bool = False
) -> HttpResponse:
    context = {"description": description, "sign_out": sign_out}
    response = render(request, ERROR_TEMPLATE, context, status=status)
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


# --- userinfo, revocation, introspection --------------------------------------------------


def bearer_challenge(
    error: str | None,
    description: str | None,
    scope: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """An RFC 6750 section 3 ``WWW-Authenticate`` value, with RFC 9728's
    ``resource_metadata`` when given."""
    params = challenge_params(error, description, scope, resource_metadata)
    return "Bearer " + ", ".join(params) if params else "Bearer"


def _bearer_challenge(
    error: str | None,
    description: str | None,
    status: int,
    scope: str | None = None,
    resource_metadata: str | None = None,
) -> HttpResponse:
    body = {"error": error, "error_description": description} if error else {}
    response = json_response(body, status=status, headers=NO_STORE)
    response["WWW-Authenticate"] = bearer_challenge(error, description, scope, resource_metadata)
    return response


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 2.1), or None."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@csrf_exempt
@no_store
@require_http_methods(["GET", "POST"])
def userinfo(request: HttpRequest) -> HttpResponse:
    """OIDC Core 5.3: the claims of the token's user for its scopes; needs ``openid``."""
    try:
        presented = dpop.presentation(request)
    except dpop.MalformedPresentation as malformed:
        return _bearer_challenge("invalid_request", str(malformed), 400)
    if presented is None:
        return _bearer_challenge(None, None, 401)
    scheme, raw = presented
    # A JWT access token is good here when the userinfo endpoint is among its audience; an
    # opaque one whatever it is bound to, as at better-auth's userinfo.
    if access_jwt.looks_like_jwt(raw):
        info = access_jwt.validate_bearer(raw, resources.userinfo_resource())
    else:
        info = oauth_tokens.validate_access_token(raw)
    if info is None or info.user_id is None:
        return _bearer_challenge("invalid_token", "the access token is invalid", 401)
    try:
        dpop.check_presentation(request, scheme, raw, info.dpop_jkt, required=False)
    except dpop.DPoPError as refused:
        response = _bearer_challenge(refused.error, refused.description, 401)
        response["WWW-Authenticate"] = dpop.challenge(refused.error, refused.description)
        if refused.nonce is not None:
            response["DPoP-Nonce"] = refused.nonce
        return response
    if "openid" not in info.scopes:
        return _bearer_challenge(
            "insufficient_scope", "the openid scope is required", 403, scope="openid"
        )
    user = user_by_pk(info.user_id)
    if user is None:  # deleted since its token validated
        return _bearer_challenge("invalid_token", "the access token is invalid", 401)
    body = claims.user_claims(user, info.scopes, client_id=info.client_id)
    if info.reference_id is not None:
        body["reference_id"] = info.reference_id  # the organization the grant is for
    return json_response(body)


@csrf_exempt
@no_store
@require_POST
@protect_secret_parameters
@sensitive_variables("params", "raw")  # the parsed form and the token: secrets
@ratelimit.limit_ip("revoke")
def revoke(request: HttpRequest) -> HttpResponse:
    """RFC 7009: the authenticated client's token only; 200 whether or not it existed (or
    belonged to another client, which is left untouched)."""
    try:
        params = post_params(request)
        client, method = authenticate(request, params)
        ratelimit.check_client("revoke", client.client_id, method)
        raw = params.get("token")
        if raw is None:
            raise errors.InvalidRequestError(description="token is required")
        if (
            access_jwt.looks_like_jwt(raw)
            and access_jwt.introspect(raw, client.client_id)["active"]
        ):
            # RFC 7009 2.2.1, as better-auth answers: nothing is stored to revoke.
            raise errors.OAuth2Error(
                error="unsupported_token_type",
                description="JWT access tokens are self-contained and cannot be revoked",
            )
        # Another client's token: nothing to revoke, and nothing to reveal.
        with contextlib.suppress(oauth_errors.UnauthorizedClient):
            oauth_tokens.revoke_token(
                raw, client_id=client.client_id, token_type_hint=params.get("token_type_hint")
            )
    except OAuth2Error as error:
        return error_response(error)
    return json_response({})


@csrf_exempt
@no_store
@require_POST
@protect_secret_parameters
@sensitive_variables("params", "raw")  # the parsed form and the token: secrets
@ratelimit.limit_ip("introspect")
def introspect(request: HttpRequest) -> HttpResponse:
    """RFC 7662 for the client the token was issued to; to any other client it is inactive."""
    try:
        params = post_params(request)
        raw = params.get("token")
        # An opaque token is read with the client (one statement), and answered only once
        # the client has authenticated.
        lookup = None
        if raw is not None and not access_jwt.looks_like_jwt(raw):
            lookup = oauth_tokens.Introspection(raw, token_type_hint=params.get("token_type_hint"))
        client, method = authenticate(request, params, along=lookup)
        ratelimit.check_client("introspect", client.client_id, method)
        if method == "none":
            raise invalid_client("introspection needs client authentication")
        if raw is None:
            raise errors.InvalidRequestError(description="token is required")
    except OAuth2Error as error:
        return error_response(error)
    if lookup is None:
        return json_response(access_jwt.introspect(raw, client.client_id))
    body = lookup.claims()
    if body.get("active") and body.get("client_id") != client.client_id:
        body = {"active": False}
    elif body.get("active"):
        body["iss"] = issuer()
    return json_response(body)


# --- end session (OpenID Connect RP-Initiated Logout 1.0) -------------------------------------

SIGNED_OUT_TEMPLATE = "beep_iam/oauth2/signed_out.html"


def _hinted_claims(hint: str) -> dict[str, Any]:
    """The claims of an ID token this server signed (expired ones too: a logout often comes
    after the token's lifetime); ``ValueError`` otherwise."""
    published = keys.published()
    try:
        token = jwt.decode(
            hint, KeySet.import_key_set({"keys": published.keys}), algorithms=list(keys.ALGORITHMS)
        )
    except jose.MALFORMED as exc:
        raise ValueError("id_token_hint is not an ID token this server signed") from exc
    claims: dict[str, Any] = token.claims
    if not published.signed_while_current(token.header.get("kid"), claims):
        raise ValueError("id_token_hint is not an ID token this server signed")
    if access_jwt.typed_as_access_token(token.header):  # RFC 8725 3.11: no confusion
        raise ValueError("id_token_hint is an access token, not an ID token")
    if claims.get("iss") != issuer() or not isinstance(claims.get("sub"), str):
        raise ValueError("id_token_hint is not an ID token this server issued")
    return claims


CONFIRM_LOGOUT_TEMPLATE = "beep_iam/oauth2/end_session.html"


class _LogoutRefused(Exception):
    pass


def _logout_client(client_id: str | None) -> OAuthClient | None:
    if client_id is None:
        return None
    client = OAuthClient.objects.filter(
        client_id=client_id, disabled=False, deleted_at__isnull=True
    ).first()
    if client is None or not client.enable_end_session:
        raise _LogoutRefused("This application may not sign you out.")
    return client


def _logout_request(
    params: dict[str, str],
) -> tuple[OAuthClient | None, dict[str, Any] | None, str | None]:
    """The client, the hinted ID token's claims and the return URI of a logout request, each
    proven: the client by the hint's audience or, without a hint, by ``client_id`` alone
    (enough to choose among its registered URIs, not to sign anyone out unasked)."""
    hint = params.get("id_token_hint")
    hinted = None
    client_id = params.get("client_id")
    if hint is not None:
        try:
            hinted = _hinted_claims(hint)
        except ValueError as exc:
            raise _LogoutRefused(f"{exc}.") from None
        audience = hinted.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if client_id is None:
            client_id = audiences[0] if len(audiences) == 1 else hinted.get("azp")
        if client_id not in audiences:
            raise _LogoutRefused("client_id differs from the ID token's audience.")
    target = params.get("post_logout_redirect_uri")
    if target is not None and client_id is None:
        raise _LogoutRefused("post_logout_redirect_uri needs id_token_hint or client_id.")
    client = _logout_client(client_id)
    if hint is not None and client is None:
        raise _LogoutRefused("This application may not sign you out.")
    if target is not None and (
        client is None or target not in (client.post_logout_redirect_uris or [])
    ):
        raise _LogoutRefused("post_logout_redirect_uri is not registered.")
    return client, hinted, target


def _signed_out(
    request: HttpRequest,
    client: OAuthClient | None,
    target: str | None,
    state: str | None,
    *,
    still_signed_in: bool = False,
) -> HttpResponse:
    if target is None:
        context = {"client": client, "still_signed_in": still_signed_in}
        response = render(request, SIGNED_OUT_TEMPLATE, context)
        response["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response
    return _redirect(target, {"state": state} if state is not None else {})


def _of_this_session(request: HttpRequest, hinted: dict[str, Any]) -> bool:
    """Whether the hinted ID token was issued to the request's session: its ``sid`` is this
    better-auth session, or its ``auth_time`` this session's sign-in (``auth_time`` is per
    session: :mod:`beep_iam.oauth2.sign_in`). An older session's token, or one without
    either, is not."""
    beep_session = getattr(request, "beep_session", None)
    if beep_session is not None and hinted.get("sid") == beep_session.pk:
        return True
    signed_in = sign_in.signed_in_at(request)
    auth_time = jose.numeric_date(hinted.get("auth_time"))
    return signed_in is not None and auth_time is not None and int(auth_time) == int(signed_in)


@csrf_protect
def _confirmed_logout(
    request: HttpRequest, client: OAuthClient | None, target: str | None, state: str | None
) -> HttpResponse:
    # The user's own answer on the confirmation page: CSRF-checked, unlike an RP's POST.
    if request.POST.get("decision") == "logout":
        logout(request)
        return _signed_out(request, client, target, state)
    return _signed_out(request, client, target, state, still_signed_in=True)


@csrf_exempt  # an RP may POST here (RP-Initiated Logout 1.0, section 2); see _confirmed_logout
@never_cache
@xframe_options_deny
@require_http_methods(["GET", "POST"])
def end_session(request: HttpRequest) -> HttpResponse:
    """OpenID Connect RP-Initiated Logout 1.0 for clients that registered
    ``enable_end_session``. With an ID token issued to the current session
    (``id_token_hint``) the user is signed out at once; with another, or without one, the
    user is asked on a page (a link alone must not sign anyone out), and a return to
    ``post_logout_redirect_uri`` (exact match with the client's registered ones) needs the
    client proven by the hint or named by ``client_id``.
    Anything unproven is shown on a page, never redirected; a hint for another user than the
    signed-in one signs no one out."""
    try:
        params = single_values(request.POST if request.method == "POST" else request.GET)
    except OAuth2Error as error:
        return _error_page(request, error.description or "Malformed request.", sign_out=True)
    try:
        client, hinted, target = _logout_request(params)
    except _LogoutRefused as exc:
        return _error_page(request, str(exc), sign_out=True)
    state = params.get("state")
    if request.user.is_authenticated:
        if hinted is not None and str(request.user.pk) != hinted["sub"]:
            return _error_page(
                request, "The sign-out request is for another account.", sign_out=True
            )
        if hinted is None or not _of_this_session(request, hinted):
            # RP-Initiated Logout 2: the user is asked unless the hint is this session's.
            if request.method == "POST" and "decision" in request.POST:
                return _confirmed_logout(request, client, target, state)
            response = render(
                request,
                CONFIRM_LOGOUT_TEMPLATE,
                {"client": client, "params": sorted(params.items())},
            )
            response["Content-Security-Policy"] = "frame-ancestors 'none'"
            return response
        beep_session = getattr(request, "beep_session", None)
        if beep_session is not None and beep_session.pk == hinted.get("sid"):
            beep_session.delete()  # better-auth's session, in co-tenancy
        logout(request)
    return _signed_out(request, client, target, state)


# --- discovery and keys -------------------------------------------------------------------

METADATA_CACHE_CONTROL = "public, max-age=15, stale-while-revalidate=15, stale-if-error=86400"


def server_metadata() -> dict[str, Any]:
    """RFC 8414 metadata, the fields better-auth's oauth-provider publishes that apply here."""
    auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    signing = client_assertion.ALGORITHMS
    return {
        "scopes_supported": list(OIDC_SCOPES),
        "issuer": issuer(),
        "authorization_endpoint": endpoint_url("authorize"),
        "token_endpoint": endpoint_url("token"),
        "jwks_uri": endpoint_url("jwks"),
        "introspection_endpoint": endpoint_url("introspect"),
        "revocation_endpoint": endpoint_url("revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "device_authorization_endpoint": endpoint_url("device-authorization"),
        "grant_types_supported": [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            GrantType.DEVICE_CODE.value,
        ],
        "token_endpoint_auth_methods_supported": ["none", *auth_methods],
        "token_endpoint_auth_signing_alg_values_supported": signing,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": signing,
        "revocation_endpoint_auth_methods_supported": ["none", *auth_methods],
        "revocation_endpoint_auth_signing_alg_values_supported": signing,
        "code_challenge_methods_supported": ["S256"],
        "pushed_authorization_request_endpoint": endpoint_url("par"),
        "require_pushed_authorization_requests": iam_settings().oauth2_require_par,
        "authorization_response_iss_parameter_supported": True,
        **registration_metadata(),
        "dpop_signing_alg_values_supported": list(dpop.conf().algorithms),
    }


def registration_metadata() -> dict[str, Any]:
    """RFC 7591's ``registration_endpoint`` and CIMD's flag, when they are on."""
    settings = iam_settings()
    extra: dict[str, Any] = {}
    if settings.oauth2_registration is not None:
        extra["registration_endpoint"] = endpoint_url("register")
    if settings.oauth2_client_id_metadata_documents:
        extra["client_id_metadata_document_supported"] = True
    return extra


def openid_metadata() -> dict[str, Any]:
    return {
        **server_metadata(),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "azp",
            "sid",
            "name",
            "picture",
            "preferred_username",
            "email",
            "email_verified",
        ],
        "userinfo_endpoint": endpoint_url("userinfo"),
        "end_session_endpoint": endpoint_url("end-session"),
        "subject_types_supported": ["public"],
        # OpenID Connect Discovery 3: RS256 must be among them.
        "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": sorted(authorization_request.PROMPTS),
    }


def _check_issuer_path(issuer_path: str | None) -> None:
    """Only the issuer's own path is served (RFC 8414 3.3: the document's issuer must be the
    one the URL was built from); any other is a 404."""
    if issuer_path is not None and issuer_path.strip("/") != urlsplit(issuer()).path.strip("/"):
        raise Http404("no authorization server has this issuer path")


@require_safe
def authorization_server_metadata(
    request: HttpRequest, issuer_path: str | None = None
) -> HttpResponse:
    _check_issuer_path(issuer_path)
    return json_response(server_metadata(), headers={"Cache-Control": METADATA_CACHE_CONTROL})


@require_safe
def openid_configuration(request: HttpRequest, issuer_path: str | None = None) -> HttpResponse:
    _check_issuer_path(issuer_path)
    return json_response(openid_metadata(), headers={"Cache-Control": METADATA_CACHE_CONTROL})


@require_safe
def jwks(request: HttpRequest) -> HttpResponse:
    """Public keys only; cacheable for as long as a rotated key stays published anyway."""
    # The keys of the algorithms this server signs with by default or for a resource, before
    # their first token (resources better-auth or an update wrote never reach the save hook).
    required = OAuthResource.objects.exclude(signing_algorithm=None).values_list(
        "signing_algorithm", flat=True
    )
    wanted = {keys.ALG, iam_settings().oauth2_id_token_signing_alg}
    keys.ensure_signing_keys(wanted | {alg for alg in required.distinct() if alg})
    return json_response(
        {"keys": keys.published_keys()},
        headers={"Cache-Control": "public, max-age=300, must-revalidate"},
    )
