"""Choices of the OAuth client columns.

Below both the models and ``beep_iam.validators``, so the validators can name the allowed
values without importing the models (which import the validators).
"""

from __future__ import annotations

from django.db import models


class TokenEndpointAuthMethod(models.TextChoices):
    NONE = "none", "None (public client)"
    CLIENT_SECRET_BASIC = "client_secret_basic", "Client secret (HTTP Basic)"
    CLIENT_SECRET_POST = "client_secret_post", "Client secret (POST body)"
    PRIVATE_KEY_JWT = "private_key_jwt", "Private key JWT"


class GrantType(models.TextChoices):
    AUTHORIZATION_CODE = "authorization_code", "Authorization code"
    REFRESH_TOKEN = "refresh_token", "Refresh token"
    CLIENT_CREDENTIALS = "client_credentials", "Client credentials"
    DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code", "Device code"


class ResponseType(models.TextChoices):
    CODE = "code", "Code"


class ClientType(models.TextChoices):
    WEB = "web", "Web"
    NATIVE = "native", "Native"
    USER_AGENT_BASED = "user-agent-based", "User-agent based"


class ApplicationType(models.TextChoices):
    WEB = "web", "Web"
    NATIVE = "native", "Native"


#: ``client_discovery_id`` of a client described by a metadata document (better-auth's
#: @better-auth/cimd writes it too).
CLIENT_METADATA_DOCUMENT = "cimd"


class SubjectType(models.TextChoices):
    PUBLIC = "public", "Public"
    PAIRWISE = "pairwise", "Pairwise"
