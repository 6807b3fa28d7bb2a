"""Django logins checked against better-auth's credential account.

Put :class:`CredentialAccountBackend` in ``AUTHENTICATION_BACKENDS`` *instead of*
``ModelBackend`` when better-auth shares the database: a user's credential account is then the
one copy of their password (``User.check_password`` asks it), so a password changed or reset
through better-auth logs into Django (the admin) and the old one no longer does, and deleting
the account locks the user out of both. Users without a credential account (created before
``BETTER_AUTH_PASSWORDS`` was on) fall back to their Django hash; their first *accepted* login
moves it into the credential account.

Every refusal costs the same (one credential lookup and one scrypt): an unknown email, a user
who may not authenticate (``User.may_authenticate``), a user without a password, a wrong
password.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from beep_iam.better_auth import credentials
from beep_shared.backends import UserBackend


class CredentialAccountBackend(UserBackend):
    @sensitive_variables()
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
            credentials.burn(password)
            return None
        if not self.user_can_authenticate(user):
            # Refused before the password is looked at: a refused login writes nothing.
            credentials.burn(password)
            return None
        if not user.check_password(password):
            return None
        credentials.adopt(user, password)
        return user
