"""The project's URLs and a DPoP-only resource, for the live-server DPoP tests."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from beep_iam.oauth2.resource import require_oauth
from config.urls import urlpatterns as project_urlpatterns


@require_oauth("invoices:read", dpop=True)
def invoices(request: HttpRequest) -> HttpResponse:
    token = request.oauth_token
    return JsonResponse({"client": token.client_id, "user": token.user_id})


urlpatterns = [*project_urlpatterns, path("api/invoices", invoices)]
