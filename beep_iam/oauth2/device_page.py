"""The verification page of the Device Authorization Grant (RFC 8628 3.3): the signed-in user
enters the user code a device shows and approves or denies; the codes are
:mod:`beep_iam.oauth2.device`'s."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from beep_iam.models import DeviceCode, DeviceCodeStatus, OAuthClient
from beep_iam.models.device_code import format_user_code
from beep_iam.oauth2 import ratelimit, resources, sign_in
from beep_iam.oauth2.views import SCOPE_DESCRIPTIONS, who_vouches

TEMPLATE = "beep_iam/oauth2/device.html"


def _page(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    response = render(request, TEMPLATE, {"action": request.path, **context}, status=status)
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def _claimed(user_code: str, user: Any) -> DeviceCode | None:
    """The live, undecided authorization of a user code as typed (case, separators ignored),
    claimed for ``user``: as better-auth's ``GET /device``, the first signed-in user to look at
    a code claims it, and only that user may decide it (its ``/device/approve`` wants a claimed
    row). Locked until the transaction ends."""
    found = DeviceCode.objects.get_by_user_code(user_code)
    if found is None:
        return None
    row = DeviceCode.objects.select_for_update().filter(pk=found.pk).first()
    if row is None or row.status != DeviceCodeStatus.PENDING:
        return None
    if row.user_id is None:
        row.user = user
        row.save(update_fields=["user"])
    return row if row.user_id == user.pk else None


@never_cache
@xframe_options_deny
@csrf_protect
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The user enters the code a device shows (GET ``?user_code=`` pre-fills it, from
    ``verification_uri_complete``), sees the client and its scopes, and approves or denies.
    Every look-up of a code counts against the IP's limit: user codes are short."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if sign_in.impersonating(request):
        return _page(request, 403, error=sign_in.IMPERSONATION_REFUSED)
    source = request.POST if request.method == "POST" else request.GET
    typed = source.get("user_code", "").strip()
    if not typed:
        return _page(request)
    try:
        ratelimit.check_ip(request, "device_verify")
        ratelimit.check_user(request, "device_verify")
    except ratelimit.TooManyRequests as error:
        response = _page(request, 429, error="Too many attempts; please try again later.")
        response["Retry-After"] = str(error.retry_after)
        return response
    decision = request.POST.get("decision") if request.method == "POST" else None
    with transaction.atomic(using=router.db_for_write(DeviceCode)):
        row = _claimed(typed, request.user)
        # An OAuth device code's client; a first-party code is not decided here.
        client = (
            OAuthClient.objects.filter(
                client_id=row.client_id, disabled=False, deleted_at__isnull=True
            ).first()
            if row is not None and row.is_oauth_code
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
                **who_vouches(client),
                user_code=format_user_code(row.user_code),
                scopes=[(s, SCOPE_DESCRIPTIONS.get(s, s)) for s in scopes],
                resources=resources.shown(row.resources),
            )
        row.status = DeviceCodeStatus.APPROVED if decision == "allow" else DeviceCodeStatus.DENIED
        row.save(update_fields=["status"])
    return _page(request, done=row.status, client=client)
