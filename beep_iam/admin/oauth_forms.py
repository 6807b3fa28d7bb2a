"""Forms of the OAuth client and consent admins. They validate with the rules the services
apply (the model's ``clean()`` for clients, ``consented_scopes`` for consents) and never
write: the admin's ``save_model`` stores what they validated."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from beep_iam.models import OAuthClient, OAuthConsent
from beep_iam.models.oauth import GrantType, ResponseType, TokenEndpointAuthMethod
from beep_iam.services.oauth_clients import REGISTRATION_FIELDS
from beep_iam.services.oauth_consent import consented_scopes
from beep_iam.services.oauth_errors import InvalidScope
from beep_shared.db.show_once import SecretField


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

    def _update_errors(self, errors: ValidationError) -> None:
        # The model's clean() names fields this form may not show (read-only or absent):
        # those errors go above the form instead of raising ValueError.
        add_service_errors(self, errors)

    class Meta:
        model = OAuthClient
        # Every editable column but the secret ones (only the secret's digest exists).
        fields = tuple(
            field.name
            for field in OAuthClient._meta.concrete_fields
            if field.editable and not field.primary_key and not isinstance(field, SecretField)
        )


class OAuthClientRegistrationForm(_ClientFormBase):
    """The add page: the fields ``register_client`` takes, validated by the model's rules
    (``OAuthClient.clean()``); the admin's ``save_model`` stores the client through
    ``create_client``, which gives it its id and secret."""

    class Meta:
        model = OAuthClient
        fields = REGISTRATION_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grant_types"].required = True
        self.fields["grant_types"].initial = [GrantType.AUTHORIZATION_CODE]
        self.fields["response_types"].initial = [ResponseType.CODE]

    def clean(self) -> dict[str, Any]:
        super().clean()
        # Unticked means none here (register_client's default would be "code").
        self.cleaned_data["response_types"] = self.cleaned_data.get("response_types") or []
        return self.cleaned_data


class OAuthClientChangeForm(_ClientFormBase):
    """The change page: plain ``ModelForm`` validation, so the model's ``clean()`` applies
    every client rule, the cross-field ones included."""


class OAuthConsentForm(forms.ModelForm):
    """Validated as ``grant_consent`` validates (``consented_scopes``: valid scopes the
    client allows); the admin's ``save_model`` stores it through ``grant_consent``, which
    replaces the scopes of an existing consent of the same client and user."""

    class Meta:
        model = OAuthConsent
        fields = ("client", "user", "scopes", "reference_id", "resources")

    def _post_clean(self) -> None:
        # No full_clean(): the (client, user) pair may exist; grant_consent then replaces it.
        if self.errors:
            return
        data = self.cleaned_data
        client = data.get("client") or self.instance.client
        user = data.get("user") or self.instance.user
        try:
            data["scopes"] = consented_scopes(client, user, data.get("scopes") or [])
        except ValidationError as error:
            add_service_errors(self, error)
        except InvalidScope as error:
            self.add_error("scopes", str(error))
        except ValueError as error:
            self.add_error(None, str(error))
