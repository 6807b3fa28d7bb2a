"""A small MCP-style server (streamable HTTP, JSON responses, one tool) protected by
``require_oauth``, on the project's URLconf; for tests/oauth2/test_mcp_sdk.py and
test_mcp_python_sdk.py. Its resource identifier is ``BEEP_IAM["OAUTH2_RESOURCE"]`` (the live
server's ``/mcp``)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from beep_iam.oauth2.resource import require_oauth
from config.urls import urlpatterns as project_urlpatterns

SCOPE = "notes:read"
REDIRECT_URI = "http://127.0.0.1:9/callback"


def client_metadata_document(client_id: str, name: str) -> dict[str, Any]:
    """An MCP client's Client ID Metadata Document, as the SDKs' clients describe themselves
    (a public client: code + PKCE, refresh)."""
    return {
        "client_id": client_id,
        "client_name": name,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


def _result(request: HttpRequest, method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "notes", "version": "1.0.0"},
        }
    if method == "tools/list":
        tool = {"name": "whoami", "description": "The signed-in user's email"}
        return {"tools": [{**tool, "inputSchema": {"type": "object", "properties": {}}}]}
    if method == "tools/call":
        return {"content": [{"type": "text", "text": request.user.email}]}
    raise KeyError(method)


@csrf_exempt
@require_oauth(SCOPE)
def mcp(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)  # no server-sent event stream here
    message = json.loads(request.body)
    if "id" not in message:
        return HttpResponse(status=202)  # a notification
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
    try:
        reply["result"] = _result(request, message["method"], message.get("params") or {})
    except KeyError:
        reply["error"] = {"code": -32601, "message": "Method not found"}
    return JsonResponse(reply)


urlpatterns = [*project_urlpatterns, path("mcp", mcp)]
