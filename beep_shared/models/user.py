from __future__ import annotations

from typing import Any

import pgtrigger
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from beep_shared.db.choices import choices_check
from beep_shared.models.base import TOUCH_ROW, Table


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

    def __str__(self) -> str:
        return self.email

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
        super().save(*args, **kwargs)

    def _empty_to_null(self) -> None:
        for name in EMPTY_IS_NULL:
            value = getattr(self, name)
            if isinstance(value, str) and not value.strip():
                setattr(self, name, None)
