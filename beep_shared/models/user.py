from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

import pgtrigger
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from beep_shared.db.choices import choices_check
from beep_shared.models.base import TOUCH_ROW, Table
from beep_shared.models.session import end_other_sessions


class UserRole(models.TextChoices):
    ADMIN = "admin", "Admin"
    USER = "user", "User"


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively; store them trimmed and lower-cased."""
    return email.strip().lower()


# Unique but optional: any number of users may lack one, only one may hold ''.
EMPTY_IS_NULL = ("username", "phone_number")


def valid_email(email: object) -> str:
    """``email`` normalised, or ``ValidationError`` on the ``email`` field."""
    if not isinstance(email, str) or not email.strip():
        raise ValidationError({"email": "A user needs an email address."}, code="required")
    normalized = normalize_email(email)
    try:
        validate_email(normalized)
    except ValidationError:
        shown = normalized if len(normalized) <= 100 else normalized[:97] + "..."
        raise ValidationError(
            {"email": f"{shown!r} is not a valid email address."}, code="invalid"
        ) from None
    return normalized


# Every write path, raw SQL and other services included: the column holds the normalised
# form that logins look up (Python's str.lower and PostgreSQL's lower agree on ASCII; the
# database's result is the one stored).
NORMALIZE_EMAIL = pgtrigger.Trigger(
    name="normalize_email",
    operation=pgtrigger.Insert | pgtrigger.Update,
    when=pgtrigger.Before,
    func="NEW.email := lower(btrim(NEW.email)); RETURN NEW;",
)


def user_may_authenticate(user: Any) -> bool:
    """:meth:`User.may_authenticate` for any user object (``is_active`` for user models
    without the rule, anonymous users never)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    rule = getattr(user, "may_authenticate", None)
    return bool(rule()) if rule is not None else bool(getattr(user, "is_active", False))


def may_authenticate_sql(alias: str) -> str:
    """SQL twin of :meth:`User.may_authenticate` for the ``"user"`` row ``alias`` (hot paths
    that answer in one statement, e.g. the OAuth token validity SQL)."""
    return (
        f"({alias}.is_active AND {alias}.deleted_at IS NULL"
        f" AND NOT ({alias}.banned AND ({alias}.ban_expires IS NULL"
        f" OR {alias}.ban_expires > now())))"
    )


# A password kept outside ``user.password`` (beep_iam's better-auth credential account):
# ``check(user, raw)`` answers True/False, or None when that store holds no password for
# the user; ``usable(user)`` likewise. Registered by the app that owns the store.
PasswordCheck = Callable[[Any, str], "bool | None"]
PasswordUsable = Callable[[Any], "bool | None"]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        email = valid_email(email)
        extra.setdefault("name", email.split("@", 1)[0])
        user = self.model(email=email, **extra)
        user.set_password(password)  # None gives an unusable password
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", UserRole.ADMIN)
        if extra["is_staff"] is not True or extra["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=normalize_email(username or ""))


class User(AbstractBaseUser, PermissionsMixin, Table):
    """The project's user (``AUTH_USER_MODEL``): the reference's columns plus Django's auth."""

    name = models.TextField()
    email = models.EmailField(max_length=320)
    email_verified = models.BooleanField(default=False, db_default=False)
    image = models.TextField(null=True, blank=True)
    role = models.TextField(choices=UserRole.choices, default=UserRole.USER, db_default="user")
    banned = models.BooleanField(default=False, db_default=False)
    ban_reason = models.TextField(null=True, blank=True)
    ban_expires = models.DateTimeField(null=True, blank=True)
    is_anonymous_user = models.BooleanField(
        "is anonymous", default=False, db_default=False, db_column="is_anonymous"
    )
    phone_number = models.TextField(null=True, blank=True)
    phone_number_verified = models.BooleanField(default=False, db_default=False)
    two_factor_enabled = models.BooleanField(default=False, db_default=False)
    username = models.TextField(null=True, blank=True)
    display_username = models.TextField(null=True, blank=True)
    stripe_customer_id = models.TextField(null=True, blank=True)
    last_login_method = models.TextField(null=True, blank=True)
    upload_limit = models.IntegerField(default=100_000_000, db_default=100_000_000)

    # Django's own columns, with database defaults so rows inserted by another service that
    # knows only the reference's columns load fine ("!" is an unusable password).
    password = models.CharField("password", max_length=128, default="!", db_default="!")
    last_login = models.DateTimeField("last login", blank=True, null=True)
    is_staff = models.BooleanField(
        "staff status",
        default=False,
        db_default=False,
        help_text="Designates whether the user can log into the admin site.",
    )
    is_superuser = models.BooleanField(
        "superuser status",
        default=False,
        db_default=False,
        help_text="Designates that this user has all permissions without explicitly "
        "assigning them.",
    )
    is_active = models.BooleanField("active", default=True, db_default=True)

    objects = UserManager()

    base_triggers = [TOUCH_ROW, NORMALIZE_EMAIL]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        db_table = "user"
        verbose_name = "user"
        verbose_name_plural = "users"
        constraints = [
            models.UniqueConstraint(fields=["email"], name="user_email_key"),
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_ci_key",
                violation_error_message="A user with this email address already exists.",
            ),
            models.UniqueConstraint(fields=["phone_number"], name="user_phone_number_key"),
            models.UniqueConstraint(fields=["username"], name="user_username_key"),
            choices_check("user", "role", UserRole),
            models.CheckConstraint(
                condition=Q(upload_limit__gte=0), name="user_upload_limit_non_negative"
            ),
        ]
        indexes = [
            models.Index(
                fields=["email"],
                name="user_active_idx",
                condition=Q(banned=False, email_verified=True),
            ),
            models.Index(fields=["role"], name="user_role_idx"),
            models.Index(
                fields=["ban_expires"], name="user_banned_expires_idx", condition=Q(banned=True)
            ),
            models.Index(
                fields=["id"], name="user_two_factor_idx", condition=Q(two_factor_enabled=True)
            ),
        ]

    # See PasswordCheck; set by the app that keeps passwords elsewhere (beep_iam).
    external_password_check: ClassVar[PasswordCheck | None] = None
    external_password_usable: ClassVar[PasswordUsable | None] = None

    def __str__(self) -> str:
        return self.email

    # --- who may authenticate: the one rule of every login path -------------------------
    # Django's backends (beep_shared.backends.UserBackend and its subclasses), the
    # better-auth cookie middleware, the OAuth services and, in SQL, may_authenticate_sql().

    def ban_in_force(self, now: dt.datetime | None = None) -> bool:
        """better-auth's admin plugin ban: ``banned`` until ``ban_expires`` (none: for good)."""
        if not self.banned:
            return False
        return self.ban_expires is None or self.ban_expires > (now or timezone.now())

    @property
    def is_banned(self) -> bool:
        return self.ban_in_force()

    def may_authenticate(self, now: dt.datetime | None = None) -> bool:
        """Active, not banned (or the ban has expired) and not soft-deleted."""
        return bool(self.is_active) and self.deleted_at is None and not self.ban_in_force(now)

    # --- an impersonation never carries more Django rights than its impersonator -------------

    def cap_rights(self, ceiling: User) -> None:
        """Cut this instance's Django rights (staff, superuser, permissions) to those
        ``ceiling`` holds, in memory: better-auth's impersonation sessions act as the
        impersonated user with at most the impersonator's rights. ``save()`` keeps the
        stored flags."""
        allowed = ceiling.may_authenticate()
        permissions = self.get_all_permissions() if self.is_active else set()
        theirs = ceiling.get_all_permissions() if allowed else set()
        self._uncapped_rights = (self.is_staff, self.is_superuser)
        self.is_staff = bool(self.is_staff and allowed and ceiling.is_staff)
        self.is_superuser = bool(self.is_superuser and allowed and ceiling.is_superuser)
        # ModelBackend's caches: has_perm() and has_module_perms() read them.
        self._perm_cache = permissions & theirs
        self._user_perm_cache = self._perm_cache
        self._group_perm_cache = self._perm_cache

    # --- one password answer ---------------------------------------------------------------

    @sensitive_variables("raw_password")
    def check_password(self, raw_password: str | None) -> bool:
        """The same answer the login gives: the external store's when it holds this user's
        password (beep_iam's credential account in co-tenancy), else ``user.password``."""
        check = type(self).external_password_check
        if check is not None and raw_password is not None:
            answer = check(self, raw_password)
            if answer is not None:
                return answer
        return super().check_password(raw_password)

    def has_usable_password(self) -> bool:
        usable = type(self).external_password_usable
        answer = usable(self) if usable is not None else None
        return super().has_usable_password() if answer is None else answer

    def clean(self) -> None:
        super().clean()
        if self.email:
            self.email = normalize_email(self.email)
        self._empty_to_null()

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The trigger stores the normalised form; keep the instance equal to the row.
        if isinstance(self.email, str):
            self.email = normalize_email(self.email)
        self._empty_to_null()
        new_password = getattr(self, "_password", None) is not None  # set_password(), not a re-hash
        uncapped = getattr(self, "_uncapped_rights", None)
        if uncapped is None:
            super().save(*args, **kwargs)
        else:
            capped = (self.is_staff, self.is_superuser)
            self.is_staff, self.is_superuser = uncapped  # an impersonation's cut is never stored
            try:
                super().save(*args, **kwargs)
            finally:
                self.is_staff, self.is_superuser = capped
        if new_password:
            # Django ends its other sessions by the password hash; end the session rows
            # (better-auth's) too.
            end_other_sessions(self)

    def _empty_to_null(self) -> None:
        for name in EMPTY_IS_NULL:
            value = getattr(self, name)
            if isinstance(value, str) and not value.strip():
                setattr(self, name, None)
