"""One password for Django and better-auth: the ``credential`` account.

better-auth checks a password against ``account.password`` of the user's account whose
``provider_id`` is ``'credential'`` (``account_id`` = the user's id), in its scrypt form.
With ``BEEP_IAM["BETTER_AUTH_PASSWORDS"]`` on, that account is the one copy of the password:

- every save of a user whose password Django has just set (``create_user``,
  ``createsuperuser``, ``set_password``, the admin's password forms) writes the account from
  the raw password, which Django only has at that moment, and leaves ``user.password``
  unusable; so deleting the credential account (the lock-out) leaves no password anywhere;
- ``User.check_password`` (and so the login backend, Django's password-change form and any
  code that re-confirms a password) asks the account first (:func:`check_for_user`);
- users without an account (created before the setting was on) keep their Django hash
  until their first accepted login moves it here (:func:`adopt`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable, make_password
from django.db.models.signals import post_save
from django.views.decorators.debug import sensitive_variables

from beep_iam.better_auth.hashers import hash_for_better_auth
from beep_iam.conf import iam_settings
from beep_iam.models.account import CREDENTIAL_PROVIDER, Account

# Stands in for the user of an unknown email, so that path runs the same query (a valid id
# of no user).
_NOBODY = "user__00000000-0000-7000-8000-000000000000"


def _accounts(using: str | None) -> Any:
    # The database the user was saved to or loaded from (the bypass alias, say).
    return Account.objects.db_manager(using)


def credential_account(user: Any) -> Account | None:
    """The user's credential account (``None``: none, or an unknown user)."""
    user_id = _NOBODY if user is None else user.pk
    using = None if user is None else user._state.db
    return _accounts(using).filter(user_id=user_id, provider_id=CREDENTIAL_PROVIDER).first()


@sensitive_variables()
def burn(raw_password: str | None) -> None:
    """Cost what a real check costs (the credential lookup and one scrypt), answering nothing:
    unknown emails, refused users and users without a password take as long as a wrong
    password, so response times don't tell which emails exist."""
    credential_account(None)
    hash_for_better_auth(raw_password or "")


@sensitive_variables()
def write_credential(user: Any, raw_password: str) -> Account:
    """Create or update the user's credential account with better-auth's hash of the
    password, and retire ``user.password`` (the account is the one copy)."""
    password = hash_for_better_auth(raw_password)
    account = credential_account(user)
    if account is None:
        account = _accounts(user._state.db).create(
            user=user,
            provider_id=CREDENTIAL_PROVIDER,
            account_id=str(user.pk),
            password=password,
        )
    else:
        account.password = password
        account.save(update_fields=["password", "updated_at"])
    user.password = make_password(None)
    type(user)._default_manager.db_manager(user._state.db).filter(pk=user.pk).update(
        password=user.password
    )
    return account


@sensitive_variables()
def check_credential(user: Any, raw_password: str) -> bool | None:
    """Whether ``raw_password`` is the user's credential password; ``None``: no credential."""
    account = credential_account(user)
    if account is None or not account.password:
        return None
    return account.check_password(raw_password)


@sensitive_variables()
def check_for_user(user: Any, raw_password: str) -> bool | None:
    """``User.check_password``'s answer in co-tenancy: the credential account's; ``None``
    (Django's own hash decides) for a user who has none yet but still holds a Django hash.
    A user with neither is refused at the cost of a real check."""
    if not iam_settings().better_auth_passwords:
        return None
    matched = check_credential(user, raw_password)
    if matched is not None:
        return matched
    if is_password_usable(user.password):
        return None
    hash_for_better_auth(raw_password)
    return False


def usable_for_user(user: Any) -> bool | None:
    """``User.has_usable_password`` in co-tenancy: whether a credential password exists."""
    if not iam_settings().better_auth_passwords:
        return None
    account = credential_account(user)
    if account is None or not account.password:
        return None
    return True


@sensitive_variables()
def adopt(user: Any, raw_password: str) -> None:
    """After an accepted login with Django's hash: move the password into the credential
    account, so better-auth signs the user in from then on."""
    if iam_settings().better_auth_passwords and credential_account(user) is None:
        write_credential(user, raw_password)


def _sync_on_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    # AbstractBaseUser keeps the raw password in ``_password`` from set_password() until its
    # save() has run, so this post_save sees every newly set password exactly once.
    new_password = getattr(instance, "_password", None)
    if raw or new_password is None or not iam_settings().better_auth_passwords:
        return
    write_credential(instance, new_password)


_sync_on_save = sensitive_variables()(_sync_on_save)


def connect() -> None:
    user_model = get_user_model()
    post_save.connect(
        _sync_on_save, sender=user_model, dispatch_uid="beep_iam.better_auth.credentials"
    )
    # Dependent apps register into the lower one: beep_shared's User asks these.
    if hasattr(user_model, "external_password_check"):
        user_model.external_password_check = check_for_user
        user_model.external_password_usable = usable_for_user
