"""The admin's login form: a stored password hash Django cannot read is a failed login.

Django's hashers raise ``ValueError`` (or ``OverflowError``) on a malformed hash, e.g. one
written by another service or by hand, so the login page answered a server error. The
refusal is the ordinary "wrong email or password" one; the exception's text (which quotes
the hash) is not logged.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.views.decorators.debug import sensitive_variables

logger = logging.getLogger(__name__)

UNREADABLE_HASH_ERRORS = (ValueError, OverflowError, TypeError)


class AdminLoginForm(AdminAuthenticationForm):
    @sensitive_variables()
    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except UNREADABLE_HASH_ERRORS:
            logger.warning("Admin login refused: the user's stored password hash is unreadable.")
            raise self.get_invalid_login_error() from None
