"""Django logins checked against better-auth's credential account.

Put :class:`CredentialAccountBackend` in ``AUTHENTICATION_BACKENDS`` *instead of*
``ModelBackend`` when better-auth shares the database: a user's credential account is then the
one source of truth for their password, so a password changed or reset through better-auth
logs into Django (the admin) and the old one no longer does. Users without a credential
account (created before ``BETTER_AUTH_PASSWORDS`` was on) fall back to ``user.password``; their
first successful login writes the credential account, so better-auth signs them in from then on.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest

from beep_iam.better_auth import credentials
from beep_iam.better_auth.hashers import hash_for_better_auth
from beep_iam.better_auth.sessions import is_banned
from beep_iam.conf import iam_settings


class CredentialAccountBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        user_model = get_user_model()
        if username is None:
            username = kwargs.get(user_model.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            # As long as a real check, so response times don't tell which emails exist.
            hash_for_better_auth(password)
            return None
        matched = credentials.check_credential(user, password)
        if matched is None:
            matched = user.check_password(password)
            if matched and iam_settings().better_auth_passwords:
                credentials.write_credential(user, password)
        elif matched and not user.check_password(password):
            # Changed through better-auth: bring Django's own copy up to date, so that
            # check_password() (e.g. the old-password field of the password change form) agrees.
            user.password = make_password(password)
            user.save(update_fields=["password"])
        if matched and self.user_can_authenticate(user) and not is_banned(user):
            return user
        return None
