"""One password for Django and better-auth: the ``credential`` account.

better-auth checks a password against ``account.password`` of the user's account whose
``provider_id`` is ``'credential'`` (``account_id`` = the user's id), in its scrypt form.
With ``BEEP_IAM["BETTER_AUTH_PASSWORDS"]`` on, every save of a user whose password Django has
just set (``create_user``, ``createsuperuser``, ``set_password``, the admin's password forms)
writes that account from the raw password, which Django only has at that moment; and
:class:`~beep_iam.better_auth.backends.CredentialAccountBackend` checks Django logins against
the account, so a password set through better-auth logs into Django too.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save

from beep_iam.better_auth.hashers import hash_for_better_auth
from beep_iam.conf import iam_settings
from beep_iam.models.account import CREDENTIAL_PROVIDER, Account


def _accounts(user: Any) -> Any:
    # The database the user was saved to or loaded from (the bypass alias, say).
    return Account.objects.db_manager(user._state.db)


def credential_account(user: Any) -> Account | None:
    return _accounts(user).filter(user=user, provider_id=CREDENTIAL_PROVIDER).first()


def write_credential(user: Any, raw_password: str) -> Account:
    """Create or update the user's credential account with better-auth's hash of the password."""
    password = hash_for_better_auth(raw_password)
    account = credential_account(user)
    if account is None:
        return _accounts(user).create(
            user=user,
            provider_id=CREDENTIAL_PROVIDER,
            account_id=str(user.pk),
            password=password,
        )
    account.password = password
    account.save(update_fields=["password", "updated_at"])
    return account


def check_credential(user: Any, raw_password: str) -> bool | None:
    """Whether ``raw_password`` is the user's credential password; ``None``: no credential."""
    account = credential_account(user)
    if account is None or not account.password:
        return None
    return account.check_password(raw_password)


def _sync_on_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    # AbstractBaseUser keeps the raw password in ``_password`` from set_password() until its
    # save() has run, so this post_save sees every newly set password exactly once.
    new_password = getattr(instance, "_password", None)
    if raw or new_password is None or not iam_settings().better_auth_passwords:
        return
    write_credential(instance, new_password)


def connect() -> None:
    post_save.connect(
        _sync_on_save, sender=get_user_model(), dispatch_uid="beep_iam.better_auth.credentials"
    )
