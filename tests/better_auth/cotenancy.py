"""What the co-tenancy test modules share: Django set up as docs/better-auth.md says (plain
session tokens, the shared secret, passwords in the credential account,
``CredentialAccountBackend``, better-auth's cookie middleware), and a view that tells who a
request is and which organization it works in.

A module uses them with ``from .cotenancy import co_tenancy, urlpatterns`` and
``pytest.mark.urls(__name__)``.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path

from beep_iam.models import Member
from beep_shared.rls import current_scope

from .conftest import SECRET


def whoami(request: HttpRequest) -> JsonResponse:
    user = request.user
    beep_session = getattr(request, "beep_session", None)
    return JsonResponse(
        {
            "user": user.pk if user.is_authenticated else None,
            "superuser": user.is_superuser,
            "session": beep_session.pk if beep_session else None,
            "tenant": current_scope().tenant_id,
            "members": sorted(Member.objects.values_list("user_id", flat=True)),
        }
    )


urlpatterns = [path("admin/", admin.site.urls), path("whoami/", whoami)]


@pytest.fixture(autouse=True)
def co_tenancy(settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "plain"}
    settings.BEEP_IAM = {
        "BETTER_AUTH_SECRET": SECRET,
        "BETTER_AUTH_PASSWORDS": True,
    }
    settings.AUTHENTICATION_BACKENDS = ["beep_iam.better_auth.backends.CredentialAccountBackend"]
    middleware = list(django_settings.MIDDLEWARE)
    tenant = middleware.index("beep_shared.rls.middleware.TenantMiddleware")
    middleware.insert(tenant, "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware")
    settings.MIDDLEWARE = middleware
