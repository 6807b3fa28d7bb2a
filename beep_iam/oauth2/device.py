"""The Device Authorization Grant (RFC 8628) on better-auth's ``device_code`` table.

A device asks for a code pair at the device authorization endpoint, shows the user code and
polls the token endpoint with the device code; the user signs in on another screen, types the
user code into the verification page and approves or denies. The rules of the codes (normal
form, generation, digests, expiry) are :mod:`beep_iam.models.device_code`'s; the tokens are
issued by :func:`beep_iam.services.oauth_tokens.issue_tokens` like every other grant's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import errors
from django.contrib.auth.views import redirect_to_login
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from beep_iam.models import DeviceCode, DeviceCodeStatus, OAuthClient
from beep_iam.models.device_code import (
    DEFAULT_DEVICE_CODE_LIFETIME,
    DEFAULT_POLLING_INTERVAL,
    format_user_code,
)
from beep_iam.models.oauth import GrantType
from beep_iam.oauth2 import claims, dpop, ratelimit, resources
from beep_iam.oauth2.endpoint import (
    OAuth2Error,
    authenticate,
    endpoint_url,
    error_response,
    from_service,
    json_response,
    no_store,
    post_params,
    scope_list,
)
from beep_iam.services import oauth_errors, oauth_tokens

TEMPLATE = "beep_iam/oauth2/device.html"
#: RFC 8628 3.5: each ``slow_down`` adds 5 seconds to the interval the device must keep
#: (milliseconds, the column's unit).
SLOW_DOWN_STEP = 5000
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(error: str, description: str) -> OAuth2Error:
    return errors.OAuth2Error(error=error, description=description, status_code=400)


# --- device authorization endpoint (RFC 8628 3.1, 3.2) ----------------------------------


@csrf_exempt
@no_store
@require_POST
@sensitive_post_parameters("client_secret", "client_assertion")
@ratelimit.limit_ip("device")
def device_authorization(request: HttpRequest) -> HttpResponse:
    """A device code and user code for a client; a public client names itself (3.1)."""
    try:
        params = post_params(request)
        client, method = authenticate(request, params)
        ratelimit.check_client("device", client.client_id, method)
        oauth_tokens.check_grant(client, GrantType.DEVICE_CODE)
        scopes = scope_list(params.get("scope"))
        if scopes is None:
            raise errors.InvalidScopeError(description="scope is required")
        oauth_tokens.allowed_scopes(client, scopes)
        row, raw = DeviceCode.objects.create_device_code(
            client_id=client.client_id, scope=" ".join(scopes)
        )
    except OAuth2Error as error:
        return error_response(error)
    except oauth_errors.OAuthError as exc:
        return error_response(from_service(exc))
    shown = format_user_code(row.user_code)
    verification_uri = endpoint_url("device")
    return json_response(
        {
            "device_code": raw,
            "user_code": shown,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?{urlencode({'user_code': shown})}",
            "expires_in": int(DEFAULT_DEVICE_CODE_LIFETIME.total_seconds()),
            "interval": (row.polling_interval or DEFAULT_POLLING_INTERVAL) // 1000,
        },
        headers=NO_STORE,
    )


# --- token endpoint grant (RFC 8628 3.4, 3.5) ---------------------------------------------


@sensitive_variables("params", "raw")
def token_grant(client: OAuthClient, params: dict[str, str]) -> dict[str, Any]:
    """``urn:ietf:params:oauth:grant-type:device_code``: tokens once the user approved; the
    device code is then deleted, so it is used once."""
    oauth_tokens.check_grant(client, GrantType.DEVICE_CODE)
    raw = params.get("device_code")
    if raw is None:
        raise errors.InvalidRequestError(description="device_code is required")
    failure: Exception | None = None
    # Committed even when the answer is an error: the poll time, the raised interval and the
    # deletion of a denied or expired code must stand.
    with transaction.atomic(using=router.db_for_write(DeviceCode)):
        row = (
            DeviceCode.objects.select_for_update()
            .by_secret(raw)
            .filter(client_id=client.client_id)
            .first()
        )
        now = timezone.now()
        if row is None:
            failure = errors.InvalidGrantError(description="unknown device_code")
        elif row.expired_by(now):
            row.delete()
            failure = _error("expired_token", "the device_code has expired")
        elif row.status == DeviceCodeStatus.DENIED:
            row.delete()
            failure = errors.AccessDeniedError(description="the user denied access")
        elif row.status == DeviceCodeStatus.APPROVED:
            row.delete()
            try:
                return _issue(client, params, row)
            except (OAuth2Error, oauth_errors.OAuthError) as exc:
                failure = exc
        else:
            interval = row.polling_interval or DEFAULT_POLLING_INTERVAL
            too_soon = (
                row.last_polled_at is not None
                and (now - row.last_polled_at).total_seconds() * 1000 < interval
            )
            row.last_polled_at = now
            if too_soon:
                row.polling_interval = interval + SLOW_DOWN_STEP
                wait = row.polling_interval // 1000
                failure = _error("slow_down", f"poll at most every {wait} seconds")
            else:
                failure = _error("authorization_pending", "the user has not yet approved")
            row.save(update_fields=["last_polled_at", "polling_interval"])
    assert failure is not None
    raise failure


@sensitive_variables("params", "issued", "body")
def _issue(client: OAuthClient, params: dict[str, str], row: DeviceCode) -> dict[str, Any]:
    from beep_iam.oauth2 import views  # the token answer's one builder; views imports this

    user = row.user
    if user is None:
        raise errors.InvalidGrantError(description="the device_code's user no longer exists")
    granted = (row.scope or "").split()
    policy = resources.resolve(client, resources.requested(params), granted)
    scopes = policy.scopes
    confirmation, refresh_confirmation = dpop.binding(client)
    issued = oauth_tokens.issue_tokens(
        client,
        scopes=scopes,
        user=user,
        with_refresh="offline_access" in scopes and views._may_refresh(client),
        resources=policy.resources or None,
        opaque_access=policy.audience is None,
        refresh_lifetime=policy.refresh_lifetime,
        confirmation=confirmation,
        refresh_confirmation=refresh_confirmation,
    )
    body = views._with_resource(
        views._token_body(issued), client, policy, issued, user_id=str(user.pk)
    )
    if "openid" in scopes:
        body["id_token"] = claims.id_token(
            user=user, client_id=client.client_id, scopes=scopes, access_token=body["access_token"]
        )
    return body


# --- verification page (RFC 8628 3.3) -----------------------------------------------------


def _page(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    response = render(request, TEMPLATE, {"action": request.path, **context}, status=status)
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def _pending(user_code: str) -> DeviceCode | None:
    """The live, undecided authorization of a user code as typed (case, separators ignored)."""
    row = DeviceCode.objects.get_by_user_code(user_code)
    if row is None or row.status != DeviceCodeStatus.PENDING or row.user_id is not None:
        return None
    return row


@never_cache
@xframe_options_deny
@csrf_protect
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The user enters the code a device shows (GET ``?user_code=`` pre-fills it, from
    ``verification_uri_complete``), sees the client and its scopes, and approves or denies.
    Every look-up of a code counts against the IP's limit: user codes are short."""
    from beep_iam.oauth2 import views  # the consent page's scope texts

    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    source = request.POST if request.method == "POST" else request.GET
    typed = source.get("user_code", "").strip()
    if not typed:
        return _page(request)
    try:
        ratelimit.check_ip(request, "device_verify")
    except ratelimit.TooManyRequests as error:
        response = _page(request, 429, error="Too many attempts; please try again later.")
        response["Retry-After"] = str(error.retry_after)
        return response
    decision = request.POST.get("decision") if request.method == "POST" else None
    with transaction.atomic(using=router.db_for_write(DeviceCode)):
        row = _pending(typed)
        if row is not None and decision is not None:
            row = DeviceCode.objects.select_for_update().filter(pk=row.pk).first()
            row = row if row is not None and row.status == DeviceCodeStatus.PENDING else None
        client = (
            OAuthClient.objects.filter(
                client_id=row.client_id, disabled=False, deleted_at__isnull=True
            ).first()
            if row is not None
            else None
        )
        if row is None or client is None:
            return _page(
                request, 400, user_code=typed, error="This code is unknown, used or expired."
            )
        if decision is None:
            scopes = (row.scope or "").split()
            return _page(
                request,
                client=client,
                user_code=format_user_code(row.user_code),
                scopes=[(s, views.SCOPE_DESCRIPTIONS.get(s, s)) for s in scopes],
            )
        if decision == "allow":
            row.status = DeviceCodeStatus.APPROVED
            row.user = request.user
        else:
            row.status = DeviceCodeStatus.DENIED
        row.save(update_fields=["status", "user"])
    return _page(request, done=row.status, client=client)
