"""Forms of the OAuth client and consent admins. They validate by calling the services
(``register_client``, the client rules, ``grant_consent``), so the admin accepts exactly what
the services accept."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from beep_iam.models import OAuthClient, OAuthConsent
from beep_iam.models.oauth import GrantType, ResponseType, TokenEndpointAuthMethod
from beep_iam.services import oauth_clients
from beep_iam.services.oauth_clients import OPTIONAL_METADATA, register_client
from beep_iam.services.oauth_consent import grant_consent
from beep_iam.services.oauth_errors import InvalidScope

# What the add page asks for: register_client's named arguments and the metadata it takes.
REGISTRATION_ARGUMENTS = (
    "name",
    "user",
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "scopes",
)


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the field it names when the form has
    it, above the form (prefixed with the field's name) when it does not."""
    mapping = (
        error.error_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.error_list}
    )
    for field, errors in mapping.items():
        messages = [message for item in errors for message in ValidationError(item).messages]
        if field in form.fields:
            form.add_error(field, messages)
        elif field == NON_FIELD_ERRORS:
            form.add_error(None, messages)
        else:
            form.add_error(None, [f"{field}: {message}" for message in messages])


def _choice_list(choices: Any, *, required: bool, help_text: str) -> forms.TypedMultipleChoiceField:
    return forms.TypedMultipleChoiceField(
        choices=choices,
        required=required,
        empty_value=None,  # none ticked: NULL, "not restricted", as the column means it
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


# Labels as people write them (the column names give "Jwks uri", "Require pkce").
CLIENT_LABELS = {
    "redirect_uris": "Redirect URIs",
    "post_logout_redirect_uris": "Post-logout redirect URIs",
    "jwks_uri": "JWKS URI",
    "jwks": "JWKS",
    "require_pkce": "Require PKCE",
    "dpop_bound_access_tokens": "DPoP-bound access tokens",
    "uri": "Home page",
    "icon": "Icon URI",
    "tos": "Terms of service",
    "policy": "Privacy policy",
    "software_id": "Software ID",
    "reference_id": "Reference ID",
    "backchannel_logout_uri": "Back-channel logout URI",
    "backchannel_logout_session_required": "Back-channel logout needs the session",
    "token_endpoint_auth_method": "Authentication method",
}


class _ClientFormBase(forms.ModelForm):
    grant_types = _choice_list(
        GrantType.choices,
        required=False,
        help_text="What the client may exchange for tokens (none ticked: not restricted).",
    )
    response_types = _choice_list(
        ResponseType.choices,
        required=False,
        help_text="'Code' for the authorization code flow.",
    )
    token_endpoint_auth_method = forms.ChoiceField(
        choices=TokenEndpointAuthMethod.choices,
        initial=TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
        label=CLIENT_LABELS["token_endpoint_auth_method"],
        help_text="How the client proves who it is at the token endpoint. 'None' makes a "
        "public client (a browser or mobile app), which has no secret.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in CLIENT_LABELS.items():
            if name in self.fields:
                self.fields[name].label = label

    class Meta:
        model = OAuthClient
        # Every editable column; the secret column is not editable (only its digest exists).
        fields = tuple(
            field.name
            for field in OAuthClient._meta.concrete_fields
            if field.editable and not field.primary_key and field.name != "client_secret"
        )


class OAuthClientRegistrationForm(_ClientFormBase):
    """The add page: ``register_client`` validates and stores the client, so every rule of
    registration applies; the raw secret it returns is shown once by the admin."""

    registered: oauth_clients.RegisteredClient | None = None

    class Meta:
        model = OAuthClient
        fields = (*REGISTRATION_ARGUMENTS, *sorted(OPTIONAL_METADATA))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grant_types"].required = True
        self.fields["grant_types"].initial = [GrantType.AUTHORIZATION_CODE]
        self.fields["response_types"].initial = [ResponseType.CODE]

    def registration_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        arguments: dict[str, Any] = {}
        for name in (*REGISTRATION_ARGUMENTS, *sorted(OPTIONAL_METADATA)):
            if name not in data:
                continue
            value = data[name]
            if value in ("", None) and name not in ("redirect_uris",):
                continue  # unset: the service's default
            arguments[name] = value
        arguments.setdefault("redirect_uris", [])
        # Unticked means none (the service would default to "code").
        arguments["response_types"] = data.get("response_types") or []
        return arguments

    @sensitive_variables("registered")
    def _post_clean(self) -> None:
        # No construct_instance/full_clean here: register_client builds, validates and
        # saves the client (inside the add view's transaction).
        if self.errors:
            return
        try:
            with transaction.atomic():
                registered = register_client(**self.registration_arguments())
        except ValidationError as error:
            add_service_errors(self, error)
            return
        self.registered = registered
        self.instance = registered.client


class OAuthClientChangeForm(_ClientFormBase):
    """The change page: the model's ``clean()`` runs the client rules; the consistency rules
    of registration are the service's own (called, not copied)."""

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        client = self.instance
        # "public" follows from the auth method, as at registration.
        client.public = client.token_endpoint_auth_method == TokenEndpointAuthMethod.NONE
        if client.client_secret and client.public:
            self.add_error(
                "token_endpoint_auth_method",
                "a public client (auth method 'none') has no secret; this client has one.",
            )
        try:
            registration_consistency(client)
        except ValidationError as error:
            add_service_errors(self, error)


def registration_consistency(client: OAuthClient) -> None:
    """The consistency rules ``register_client`` applies, for an existing client.

    Calls the service's own check: when the services expose a public per-client check,
    this is the one line to change.
    """
    extra = {"jwks": client.jwks, "jwks_uri": client.jwks_uri}
    oauth_clients._check_consistency(
        client.token_endpoint_auth_method or TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
        list(client.grant_types or []),
        list(client.response_types or []),
        list(client.redirect_uris or []),
        extra,
    )


class OAuthConsentForm(forms.ModelForm):
    """Saved through ``grant_consent``: scopes must be valid and allowed for the client."""

    class Meta:
        model = OAuthConsent
        fields = ("client", "user", "scopes", "reference_id", "resources")

    def _post_clean(self) -> None:
        if self.errors:
            return
        data = self.cleaned_data
        client = data.get("client") or self.instance.client
        user = data.get("user") or self.instance.user
        try:
            with transaction.atomic():
                consent = grant_consent(
                    client,
                    user,
                    data.get("scopes") or [],
                    reference_id=data.get("reference_id") or None,
                    resources=data.get("resources") or None,
                )
        except (ValidationError, InvalidScope, ValueError) as error:
            if isinstance(error, ValidationError):
                add_service_errors(self, error)
            else:
                self.add_error("scopes" if isinstance(error, InvalidScope) else None, str(error))
            return
        self.instance = consent
