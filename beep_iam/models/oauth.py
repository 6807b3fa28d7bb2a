"""OAuth provider tables, schema-compatible with better-auth's oauth-provider plugin.

Tokens and consents point at ``oauth_client.client_id`` (the public identifier), not at its
primary key, as better-auth does. Secrets and tokens hold SHA-256 digests (base64url, no
padding); the raw values are handed out once by the services in ``beep_iam.services``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, ClassVar, Self

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from beep_iam.choices import (
    ApplicationType,
    ClientType,
    GrantType,
    ResponseType,
    SubjectType,
    TokenEndpointAuthMethod,
)
from beep_iam.validators import is_secret_method, validate_client
from beep_shared.db.choices import choices_check
from beep_shared.db.fields import ForeignKey
from beep_shared.db.indexes import Index
from beep_shared.db.show_once import DigestField, SecretField, ShowOnceMixin
from beep_shared.labels import related_label
from beep_shared.models import Table
from beep_shared.models.lifecycle import Expires, ExpiringQuerySet

__all__ = [
    "ApplicationType",
    "ClientType",
    "GrantType",
    "OAuthAccessToken",
    "OAuthClient",
    "OAuthClientAssertion",
    "OAuthClientResource",
    "OAuthConsent",
    "OAuthRefreshToken",
    "OAuthResource",
    "ResponseType",
    "SubjectType",
    "TokenEndpointAuthMethod",
]


def _text_list(**kwargs: object) -> ArrayField:
    return ArrayField(models.TextField(), **kwargs)  # type: ignore[arg-type]


def _array_within(
    table: str, field: str, choices: type[models.TextChoices]
) -> models.CheckConstraint:
    """CHECK that every element of a text[] column is one of ``choices`` (NULL passes)."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__contained_by": list(choices.values)}),
        name=f"{table}_{field}_valid",
        violation_error_message=f"{field} may only contain: {', '.join(choices.values)}.",
    )


def token_label(kind: str, token: OAuthRefreshToken | OAuthAccessToken) -> str:
    """``access token of alice@example.com for Acme``: tokens have no name of their own."""
    owner = f" of {related_label(token, 'user', 'email')}" if token.user_id else ""
    return f"{kind}{owner} for {related_label(token, 'client')}"


class OAuthClient(Table):
    """A registered OAuth client. ``client_secret`` is a digest; public clients have none."""

    client_id = models.TextField(help_text="Public identifier; tokens reference this column.")
    client_secret = DigestField(
        null=True, blank=True, editable=False, help_text="SHA-256 digest of the client secret."
    )
    disabled = models.BooleanField(default=False, db_default=False)
    skip_consent = models.BooleanField(null=True, blank=True)
    enable_end_session = models.BooleanField(null=True, blank=True)
    scopes = _text_list(null=True, blank=True)
    user = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="oauth_clients",
    )
    name = models.TextField(null=True, blank=True)
    uri = models.TextField(null=True, blank=True)
    icon = models.TextField(null=True, blank=True)
    contacts = _text_list(null=True, blank=True)
    tos = models.TextField(null=True, blank=True)
    policy = models.TextField(null=True, blank=True)
    software_id = models.TextField(null=True, blank=True)
    software_version = models.TextField(null=True, blank=True)
    software_statement = models.TextField(null=True, blank=True)
    # NOT NULL, but may be empty for clients without the authorization_code grant.
    redirect_uris = _text_list(blank=True)
    post_logout_redirect_uris = _text_list(null=True, blank=True)
    token_endpoint_auth_method = models.TextField(
        choices=TokenEndpointAuthMethod.choices, null=True, blank=True
    )
    grant_types = _text_list(null=True, blank=True)
    response_types = _text_list(null=True, blank=True)
    public = models.BooleanField(null=True, blank=True)
    type = models.TextField(choices=ClientType.choices, null=True, blank=True)
    reference_id = models.TextField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    # better-auth 1.7 additions.
    client_credentials_scopes = _text_list(null=True, blank=True)
    require_pkce = models.BooleanField(null=True, blank=True)
    subject_type = models.TextField(choices=SubjectType.choices, null=True, blank=True)
    application_type = models.TextField(choices=ApplicationType.choices, null=True, blank=True)
    jwks = models.TextField(null=True, blank=True, help_text="JSON Web Key Set (JSON text).")
    jwks_uri = models.TextField(null=True, blank=True)
    backchannel_logout_uri = models.TextField(null=True, blank=True)
    backchannel_logout_session_required = models.BooleanField(null=True, blank=True)
    dpop_bound_access_tokens = models.BooleanField(null=True, blank=True)
    client_discovery_id = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "oauth_client"
        verbose_name = "OAuth client"
        constraints = [
            # The only unique index on client_id; it also backs the to_field foreign keys.
            models.UniqueConstraint(fields=["client_id"], name="oauth_client_client_id_uidx"),
            choices_check("oauth_client", "token_endpoint_auth_method", TokenEndpointAuthMethod),
            choices_check("oauth_client", "type", ClientType),
            choices_check("oauth_client", "subject_type", SubjectType),
            choices_check("oauth_client", "application_type", ApplicationType),
            _array_within("oauth_client", "grant_types", GrantType),
            _array_within("oauth_client", "response_types", ResponseType),
            models.CheckConstraint(
                condition=~Q(token_endpoint_auth_method="none", client_secret__isnull=False),
                name="oauth_client_public_has_no_secret",
                violation_error_message="A public client (auth method 'none') has no secret.",
            ),
        ]
        indexes = [Index(fields=["user"], name="oauth_client_user_id_idx")]

    def __str__(self) -> str:
        return self.name or self.client_id

    # The client's validity rule, shared by client authentication and the token rules
    # (issuing, rotation, and in SQL the token validity statement).
    @property
    def may_authenticate(self) -> bool:
        """Enabled and not soft-deleted."""
        return not self.disabled and self.deleted_at is None

    def metadata_object(self) -> dict[str, Any] | None:
        """``metadata`` as the object it holds, None when absent or not an object (better-auth
        writes the column as a JSON string of the object)."""
        metadata = self.metadata
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return None
        return metadata if isinstance(metadata, dict) else None

    def registered(self, name: str) -> Any:
        """Client metadata ``name`` kept in ``metadata`` (fields without a column of their
        own, RFC 7591 extensions)."""
        return (self.metadata_object() or {}).get(name)

    @staticmethod
    def may_authenticate_sql(alias: str) -> str:
        """SQL twin of :attr:`may_authenticate` for the ``oauth_client`` row ``alias``."""
        return f"(NOT {alias}.disabled AND {alias}.deleted_at IS NULL)"

    # What the client may ask for. NULL ``scopes`` / ``grant_types`` mean "not restricted"
    # (rows written by other tools may lack them); the services raise the OAuth errors.
    def scopes_not_allowed(self, scopes: Iterable[str]) -> list[str]:
        """The scopes of ``scopes`` this client may not get (none when unrestricted)."""
        if not self.scopes:
            return []
        allowed = set(self.scopes)
        return [scope for scope in scopes if scope not in allowed]

    def allows_scopes(self, scopes: Iterable[str]) -> bool:
        return not self.scopes_not_allowed(scopes)

    def keep_allowed_scopes(self, scopes: Iterable[str]) -> list[str]:
        """``scopes`` without those the client may no longer get, in order."""
        refused = set(self.scopes_not_allowed(scopes := list(scopes)))
        return [scope for scope in scopes if scope not in refused]

    def allows_grant(self, grant: str) -> bool:
        return self.grant_types is None or grant in self.grant_types

    @property
    def uses_secret(self) -> bool:
        """Whether the client authenticates with a client secret (so it has one)."""
        return is_secret_method(self.token_endpoint_auth_method)

    def clean_fields(self, exclude: Any = None) -> None:
        # The list columns and the auth method have their rules in clean() (validators),
        # which name the rule and the value; ArrayField's own cleaning would repeat them,
        # read a string as JSON or exhaust a generator before clean() sees it.
        skipped = {"token_endpoint_auth_method"} | {
            field.name for field in self._meta.concrete_fields if isinstance(field, ArrayField)
        }
        super().clean_fields(exclude={*(exclude or ()), *skipped})

    def clean(self) -> None:
        """Every client rule (``beep_iam.validators.validate_client``), all errors per field;
        list values come back normalised (duplicates dropped) and ``public`` follows the
        authentication method."""
        super().clean()
        validate_client(self)


class TokenQuerySet(ShowOnceMixin, ExpiringQuerySet):
    """Lifecycle of the token tables: the token's own part of the validity rule, revocation."""

    def live(self, now: dt.datetime | None = None) -> Self:
        """Tokens not revoked, expired or soft-deleted (their client's and user's rules are
        their own: ``OAuthClient.may_authenticate``, ``User.may_authenticate``)."""
        return self.unexpired(now).filter(revoked__isnull=True, deleted_at__isnull=True)

    def of_family(self, client_id: str, user_id: str) -> Self:
        """The tokens of one client and user (what a refresh token's reuse revokes)."""
        return self.filter(client_id=client_id, user_id=user_id)

    def revoke(self, now: dt.datetime | None = None) -> int:
        """Revoke the tokens not revoked yet (a revoked one keeps its first revocation time);
        returns how many."""
        return self.filter(revoked__isnull=True).update(revoked=now or timezone.now())


class OAuthRefreshTokenQuerySet(TokenQuerySet):
    def revoke_with_access_tokens(self, now: dt.datetime | None = None) -> tuple[int, int]:
        """Revoke these refresh tokens and the access tokens they minted; returns the
        (refresh, access) counts of newly revoked tokens.

        One statement, so the selection is read once, before anything changes (a queryset
        filtered on ``revoked`` stays right), without loading ids into Python.
        """
        selection, params = self.order_by().values("pk").query.sql_with_params()
        now = now or timezone.now()
        sql = f"""
WITH selected (id) AS ({selection}),
refresh AS (
    UPDATE oauth_refresh_token SET revoked = %s
    WHERE id IN (SELECT id FROM selected) AND revoked IS NULL
    RETURNING 1
),
access AS (
    UPDATE oauth_access_token SET revoked = %s
    WHERE refresh_id IN (SELECT id FROM selected) AND revoked IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM refresh), (SELECT count(*) FROM access)
"""
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, (*params, now, now))
            refresh, access = cursor.fetchone()
        return refresh, access

    def revoke_family(
        self, client_id: str, user_id: str, now: dt.datetime | None = None
    ) -> tuple[int, int]:
        """Revoke every refresh and access token of one client and user (refresh first, the
        order every revocation takes, so two of them cannot deadlock); returns the
        (refresh, access) counts."""
        now = now or timezone.now()
        with transaction.atomic(using=self.db, savepoint=False):
            refresh = self.of_family(client_id, user_id).revoke(now)
            access = (
                OAuthAccessToken.objects.using(self.db).of_family(client_id, user_id).revoke(now)
            )
        return refresh, access


class OAuthRefreshToken(Expires, Table):
    """An opaque refresh token (digest). Rotation revokes it and issues a new pair."""

    token = DigestField(editable=False, help_text="SHA-256 digest of the token.")
    client = ForeignKey(
        OAuthClient,
        on_delete=models.CASCADE,
        to_field="client_id",
        related_name="oauth_refresh_tokens",
    )
    session = ForeignKey(
        "beep_shared.Session",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="oauth_refresh_tokens",
    )
    user = ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_refresh_tokens"
    )
    reference_id = models.TextField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)
    scopes = _text_list()
    # better-auth 1.7 additions.
    rotated_at = models.DateTimeField(null=True, blank=True)
    auth_time = models.DateTimeField(null=True, blank=True)
    authorization_code_id = models.TextField(null=True, blank=True)
    resources = _text_list(null=True, blank=True)
    requested_user_info_claims = _text_list(null=True, blank=True)
    confirmation = models.JSONField(null=True, blank=True, help_text="Sender constraint (cnf).")
    # better-auth's answer to a rotation, encrypted with its secret, replayed within a grace
    # period; never displayed.
    rotation_replay_response = SecretField(null=True, blank=True, editable=False)
    rotation_replay_expires_at = models.DateTimeField(null=True, blank=True)

    objects = OAuthRefreshTokenQuerySet.as_manager()

    class Meta:
        db_table = "oauth_refresh_token"
        verbose_name = "OAuth refresh token"
        constraints = [
            models.UniqueConstraint(fields=["token"], name="oauth_refresh_token_token_key"),
        ]
        indexes = [
            Index(fields=["client"], name="oauth_refresh_token_client_id_idx"),
            Index(fields=["user"], name="oauth_refresh_token_user_id_idx"),
            Index(fields=["session"], name="oauth_refresh_token_session_id_idx"),
            Index(fields=["expires_at"], name="oauth_refresh_token_expires_at_idx"),
            # Lets the purge walk long-revoked rows without scanning live ones.
            Index(
                fields=["revoked"],
                name="oauth_refresh_token_revoked_idx",
                condition=Q(revoked__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return token_label("refresh token", self)


# better-auth 1.4 has no access-token ``revoked`` column (it deletes on revoke) and judges a
# token by ``expires_at`` alone: revoking a token here also ends it, so both lines see it
# inactive.
REVOCATION_ENDS_TOKEN = pgtrigger.Trigger(
    name="oauth_access_token_revocation_expires",
    operation=pgtrigger.Insert | pgtrigger.UpdateOf("revoked", "expires_at"),
    when=pgtrigger.Before,
    condition=pgtrigger.Q(new__revoked__isnull=False),
    func=(
        "NEW.expires_at := least(coalesce(NEW.expires_at, NEW.revoked), NEW.revoked); RETURN NEW;"
    ),
)


class OAuthAccessToken(Expires, Table):
    """An opaque access token (digest). Revocation sets ``revoked``; the row stays."""

    token = DigestField(
        null=True, blank=True, editable=False, help_text="SHA-256 digest of the token."
    )
    client = ForeignKey(
        OAuthClient,
        on_delete=models.CASCADE,
        to_field="client_id",
        related_name="oauth_access_tokens",
    )
    session = ForeignKey(
        "beep_shared.Session",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="oauth_access_tokens",
    )
    user = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="oauth_access_tokens",
    )
    reference_id = models.TextField(null=True, blank=True)
    oauth_refresh_token = ForeignKey(
        OAuthRefreshToken,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        db_column="refresh_id",
        related_name="oauth_access_tokens",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    scopes = _text_list()
    # better-auth 1.7 additions.
    revoked = models.DateTimeField(
        null=True, blank=True, help_text="Setting it also moves expires_at to it (better-auth 1.4)."
    )
    authorization_code_id = models.TextField(null=True, blank=True)
    resources = _text_list(null=True, blank=True)
    requested_user_info_claims = _text_list(null=True, blank=True)
    confirmation = models.JSONField(null=True, blank=True, help_text="Sender constraint (cnf).")

    objects = TokenQuerySet.as_manager()

    base_triggers: ClassVar[list[Any]] = [*Table.base_triggers, REVOCATION_ENDS_TOKEN]

    class Meta:
        db_table = "oauth_access_token"
        verbose_name = "OAuth access token"
        constraints = [
            models.UniqueConstraint(fields=["token"], name="oauth_access_token_token_key"),
        ]
        indexes = [
            Index(fields=["client"], name="oauth_access_token_client_id_idx"),
            Index(fields=["user"], name="oauth_access_token_user_id_idx"),
            Index(fields=["session"], name="oauth_access_token_session_id_idx"),
            Index(fields=["oauth_refresh_token"], name="oauth_access_token_refresh_id_idx"),
            Index(fields=["expires_at"], name="oauth_access_token_expires_at_idx"),
            Index(
                fields=["revoked"],
                name="oauth_access_token_revoked_idx",
                condition=Q(revoked__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return token_label("access token", self)


class OAuthConsent(Table):
    """The scopes a user granted a client; one row per (client, user)."""

    client = ForeignKey(
        OAuthClient,
        on_delete=models.CASCADE,
        to_field="client_id",
        related_name="oauth_consents",
    )
    user = ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="oauth_consents",
    )
    reference_id = models.TextField(null=True, blank=True)
    scopes = _text_list()
    # better-auth 1.7 additions.
    resources = _text_list(null=True, blank=True)
    requested_user_info_claims = _text_list(null=True, blank=True)

    class Meta:
        db_table = "oauth_consent"
        verbose_name = "OAuth consent"
        constraints = [
            models.UniqueConstraint(
                fields=["client", "user"], name="oauth_consent_client_user_uidx"
            ),
        ]
        indexes = [
            Index(fields=["client"], name="oauth_consent_client_id_idx"),
            Index(fields=["user"], name="oauth_consent_user_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{related_label(self, 'user', 'email')} for {related_label(self, 'client')}"


class OAuthResource(Table):
    """A protected resource (RFC 8707 audience) with its own token policy (better-auth 1.7)."""

    identifier = models.TextField(help_text="Resource indicator (an absolute URI).")
    name = models.TextField()
    access_token_ttl = models.IntegerField(null=True, blank=True, help_text="Seconds.")
    refresh_token_ttl = models.IntegerField(null=True, blank=True, help_text="Seconds.")
    signing_algorithm = models.TextField(null=True, blank=True)
    signing_key_id = models.TextField(null=True, blank=True)
    allowed_scopes = _text_list(null=True, blank=True)
    custom_claims = models.JSONField(null=True, blank=True)
    dpop_bound_access_tokens_required = models.BooleanField(null=True, blank=True)
    disabled = models.BooleanField(null=True, blank=True)
    policy_version = models.IntegerField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "oauth_resource"
        verbose_name = "OAuth resource"
        constraints = [
            models.UniqueConstraint(fields=["identifier"], name="oauth_resource_identifier_key"),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": 0}),
                    name=f"oauth_resource_{field}_positive",
                    violation_error_message=f"{field} must be more than 0.",
                )
                for field in ("access_token_ttl", "refresh_token_ttl")
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.identifier


class OAuthClientResource(Table):
    """A resource a client may request tokens for (better-auth 1.7)."""

    client = ForeignKey(
        OAuthClient,
        on_delete=models.CASCADE,
        to_field="client_id",
        related_name="oauth_client_resources",
    )
    resource = ForeignKey(
        OAuthResource,
        on_delete=models.CASCADE,
        to_field="identifier",
        related_name="oauth_client_resources",
    )
    metadata = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "oauth_client_resource"
        verbose_name = "OAuth client resource"
        constraints = [
            models.UniqueConstraint(
                fields=["client", "resource"], name="oauth_client_resource_client_resource_key"
            ),
        ]
        indexes = [Index(fields=["resource"], name="oauth_client_resource_resource_id_idx")]

    def __str__(self) -> str:
        return f"{self.client_id} -> {self.resource_id}"


class OAuthClientAssertion(Expires, Table):
    """A used ``private_key_jwt`` client assertion, kept until it expires to refuse replays.

    The id is better-auth's: the base64url SHA-256 prefix of the assertion's ``jti``, not an
    entity id (better-auth inserts it itself and finds replays by it).
    """

    id = models.TextField(primary_key=True, editable=False)
    expires_at = models.DateTimeField()

    objects = ExpiringQuerySet.as_manager()

    class Meta:
        db_table = "oauth_client_assertion"
        verbose_name = "OAuth client assertion"
        indexes = [Index(fields=["expires_at"], name="oauth_client_assertion_expires_at_idx")]
