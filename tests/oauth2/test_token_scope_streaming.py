"""A streamed body is produced after the view returned: require_oauth and OAuth2TenantMixin
produce it as the token's organization (or none) too, never in the session cookie's
(TenantMiddleware's stream_in_scope) or in none (review 11)."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.http import FileResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.urls import path
from rest_framework.renderers import JSONRenderer

from beep_iam.oauth2.drf import OAuth2APIView
from beep_iam.oauth2.resource import require_oauth
from beep_iam.services.oauth_tokens import issue_tokens
from beep_shared.rls.sql import current_tenant_sql
from tests.factories import OrganizationFactory
from tests.factories.tenant import MemberFactory
from tests.oauth2.test_tenancy import work_in

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.oauth2.test_token_scope_streaming")]


def _tenant() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {current_tenant_sql()}")
        return str(cursor.fetchone()[0])


def _body():
    yield _tenant().encode()


@require_oauth()
def streamed(request):
    return StreamingHttpResponse(_body())


class Streamed(OAuth2APIView):
    renderer_classes = [JSONRenderer]

    def get(self, request):
        return StreamingHttpResponse(_body())


urlpatterns = [path("streamed", streamed), path("drf-streamed", Streamed.as_view())]


@pytest.fixture
def alpha_beta(user):
    a, b = OrganizationFactory(name="Alpha"), OrganizationFactory(name="Beta")
    for organization in (a, b):
        MemberFactory(organization=organization, user=user)
    return a, b


def streamed_as(client, url: str, token: str) -> str:
    """The streamed body of ``url`` for ``token``: the tenant it was produced in."""
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("url", ["/streamed", "/drf-streamed"])
def test_a_streamed_body_of_a_token_for_no_organization_runs_as_none(
    client, web, user, alpha_beta, url
):
    alpha, _ = alpha_beta
    client.force_login(user)
    work_in(client, alpha)
    web.client.scopes = None
    web.client.save()
    token = issue_tokens(web.client, scopes=["openid"], user=user).access_token
    body = streamed_as(client, url, token)
    assert body in ("None", ""), f"streamed as {body!r}: the cookie's organization {alpha.pk}"


@pytest.mark.parametrize("url", ["/streamed", "/drf-streamed"])
def test_a_streamed_body_of_a_token_for_beta_runs_as_beta_whatever_the_cookie(
    client, web, user, alpha_beta, url
):
    alpha, beta = alpha_beta
    client.force_login(user)
    work_in(client, alpha)
    web.client.scopes = None
    web.client.save()
    token = issue_tokens(
        web.client, scopes=["openid"], user=user, reference_id=beta.pk
    ).access_token
    body = streamed_as(client, url, token)
    assert body == beta.pk, f"streamed as {body!r}, not the token's {beta.pk} (alpha={alpha.pk})"


@pytest.mark.parametrize("url", ["/streamed", "/drf-streamed"])
def test_without_a_cookie_a_streamed_body_runs_as_the_tokens_organization(
    client, web, user, alpha_beta, url
):
    _, beta = alpha_beta
    web.client.scopes = None
    web.client.save()
    token = issue_tokens(
        web.client, scopes=["openid"], user=user, reference_id=beta.pk
    ).access_token
    body = streamed_as(client, url, token)
    assert body == beta.pk, f"streamed as {body!r}, not the token's {beta.pk}"


# Review 12: only what needs a scope is wrapped.


async def _events():
    yield b"data: 1\n\n"


@require_oauth()
def events(request):
    return StreamingHttpResponse(_events(), content_type="text/event-stream")


@require_oauth()
def filed(request):
    return FileResponse(io.BytesIO(b"x" * 10), filename="f.txt")


def test_an_async_stream_of_a_token_for_no_organization_passes(web, user):
    # Server-sent events under ASGI: nothing to scope, so nothing refused.
    token = issue_tokens(web.client, scopes=["openid"], user=user).access_token
    response = events(RequestFactory().get("/events", HTTP_AUTHORIZATION=f"Bearer {token}"))
    assert response.is_async


@pytest.mark.parametrize("with_organization", [False, True])
def test_a_file_response_keeps_its_file_for_sendfile(web, user, alpha_beta, with_organization):
    _, beta = alpha_beta
    issued = issue_tokens(
        web.client,
        scopes=["openid"],
        user=user,
        reference_id=beta.pk if with_organization else None,
    )
    request = RequestFactory().get("/f", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}")
    response = filed(request)
    assert response.file_to_stream is not None  # wsgi.file_wrapper may serve it
