"""The Device Authorization Grant (RFC 8628) on better-auth's ``device_code`` table.

A device asks for a code pair at the device authorization endpoint, shows the user code and
polls the token endpoint with the device code; the user signs in on another screen, types the
user code into the verification page (:mod:`beep_iam.oauth2.device_page`) and approves or
denies. The rules of the codes (normal form, generation, digests, expiry) are
:mod:`beep_iam.models.device_code`'s; the token endpoint (``views``) builds the token answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import errors
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from beep_iam.conf import iam_settings
from beep_iam.models import DeviceCode, DeviceCodeStatus, OAuthClient
from beep_iam.models.device_code import (
    DEFAULT_DEVICE_CODE_LIFETIME,
    DEFAULT_POLLING_INTERVAL,
    format_user_code,
)
from beep_iam.models.oauth import GrantType
from beep_iam.oauth2 import ratelimit, resources
from beep_iam.oauth2.authorization_request import default_scopes
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
from beep_iam.services.secret_parameters import protect_secret_parameters

#: RFC 8628 3.5: each ``slow_down`` adds 5 seconds to the interval the device must keep
#: (milliseconds, the column's unit).
SLOW_DOWN_STEP = 5000


def _error(error: str, description: str) -> OAuth2Error:
    return errors.OAuth2Error(error=error, description=description, status_code=400)


# --- device authorization endpoint (RFC 8628 3.1, 3.2) ----------------------------------


@csrf_exempt
@no_store
@require_POST
@protect_secret_parameters
# The parsed form (secrets, tokens, codes) and the new device code. One decorator: the
# error reporter hides what the nearest one above a frame names.
@sensitive_variables("params", "raw")
@ratelimit.limit_ip("device")
def device_authorization(request: HttpRequest) -> HttpResponse:
    """A device code and user code for a client; a public client names itself (3.1)."""
    try:
        params = post_params(request)
        client, method = authenticate(request, params)
        ratelimit.check_client("device", client.client_id, method)
        oauth_tokens.check_grant(client, GrantType.DEVICE_CODE)
        scopes = scope_list(params.get("scope"))
        if scopes is None:  # OPTIONAL (RFC 8628 3.1): defaulted as at the authorization endpoint
            scopes = default_scopes(client)
        oauth_tokens.allowed_scopes(client, scopes)
        # RFC 8707 on the device authorization request, as better-auth's
        # oauthDeviceAuthorization() takes it: the user approves the resources with the code.
        wanted = resources.requested(params)
        resources.resolve(client, wanted, scopes)
        interval = iam_settings().oauth2_device_polling_interval
        row, raw = DeviceCode.objects.create_device_code(
            client_id=client.client_id,
            oauth_client_id=client.client_id,
            resources=wanted,
            scope=" ".join(scopes),
            polling_interval=int(interval.total_seconds() * 1000),
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
        }
    )


# --- token endpoint grant (RFC 8628 3.4, 3.5) ---------------------------------------------


#: Builds the token answer for an approved row (the token endpoint's, which owns the answer).
Issue = Callable[[OAuthClient, dict[str, str], DeviceCode], dict[str, Any]]


@sensitive_variables("params", "raw")
def token_grant(client: OAuthClient, params: dict[str, str], issue: Issue) -> dict[str, Any]:
    """``urn:ietf:params:oauth:grant-type:device_code``: ``issue``'s tokens once the user
    approved; the device code is then deleted, so it is used once."""
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
        if row is None or not row.is_oauth_code:
            failure = errors.InvalidGrantError(description="unknown device_code")
        elif row.expired_by(now):
            row.delete()
            failure = _error("expired_token", "the device_code has expired")
        elif row.status == DeviceCodeStatus.DENIED:
            row.delete()
            failure = errors.AccessDeniedError(description="the user denied access")
        elif row.status == DeviceCodeStatus.APPROVED:
            try:
                # A refused poll (a resource the user did not approve, say) leaves the
                # approval for a correct one: the user need not start over.
                with transaction.atomic(using=router.db_for_write(DeviceCode)):
                    row.delete()
                    return issue(client, params, row)
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
