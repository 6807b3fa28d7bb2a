"""Secret columns: show a secret once, store only its digest; never display a secret column.

``SecretField`` marks a text column that holds a secret or something derived from one (a
digest, a password hash, a ciphertext, a value the auth layer needs in clear). The admins
leave every such field out of their forms by its class (``beep_shared.admin.base``), whatever
the column is called.

``DigestField`` is the "show once" kind: the raw value is generated, handed out once and
only its SHA-256 digest is stored (better-auth's hashed storage, ``beep_shared.crypto``).
``ShowOnceQuerySet.create_with_secret()`` makes a row with a new secret and returns both,
``by_secret()`` finds a row by the raw value, and ``set_new_secret()`` replaces the secret of
a row (rotation). Same column type as a ``TextField``: no database change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.db import models
from django.views.decorators.debug import sensitive_variables

from beep_shared import crypto

DEFAULT_SECRET_BYTES = 32  # 43 URL-safe characters


class SecretField(models.TextField):
    """A column holding a secret or something derived from one; never displayed."""

    description = "Secret (never displayed)"


class DigestField(SecretField):
    """The SHA-256 digest (base64url, no padding) of a secret shown once.

    ``nbytes``: the entropy of the secrets :meth:`generate` makes.
    """

    description = "SHA-256 digest of a secret shown once"

    def __init__(self, *args: Any, nbytes: int = DEFAULT_SECRET_BYTES, **kwargs: Any) -> None:
        self.nbytes = nbytes
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.nbytes != DEFAULT_SECRET_BYTES:
            kwargs["nbytes"] = self.nbytes
        return name, path, args, kwargs

    def generate(self) -> str:
        """A new random secret (URL-safe)."""
        return crypto.generate_token(self.nbytes)

    @sensitive_variables()
    def stored_form(self, raw: str) -> str:
        """What the column holds for the secret ``raw``."""
        return crypto.digest(raw)


def holds_secret(field: Any) -> bool:
    """Whether a field is a secret column or holds secrets inside its text: a model names
    those in ``secret_holding_fields`` (an SSO provider's JSON configuration, whose client
    secret better-auth keeps in clear)."""
    if isinstance(field, SecretField):
        return True
    model = getattr(field, "model", None)
    return bool(getattr(field, "concrete", False)) and field.name in getattr(
        model, "secret_holding_fields", ()
    )


def secret_fields(model: type[models.Model]) -> list[SecretField]:
    """The model's secret columns, in declaration order."""
    return [field for field in model._meta.concrete_fields if isinstance(field, SecretField)]


def digest_field(model: type[models.Model]) -> DigestField:
    """The model's one show-once column (``TypeError`` if it has none or several)."""
    found = [field for field in secret_fields(model) if isinstance(field, DigestField)]
    if len(found) != 1:
        raise TypeError(
            f"{model.__name__} has {len(found)} DigestField columns; show-once helpers need "
            "exactly one."
        )
    return found[0]


@sensitive_variables("raw")
def set_new_secret(instance: models.Model, raw: str | None = None) -> str:
    """Give ``instance`` the secret ``raw`` (default: a new one), not saved; return the raw
    value, to show once."""
    field = digest_field(type(instance))
    if raw is None:
        raw = field.generate()
    setattr(instance, field.attname, field.stored_form(raw))
    return raw


# The mixin is typed as a QuerySet but is a plain class at run time, so it combines with
# other QuerySet classes (``ExpiringQuerySet``) without two QuerySet bases.
_QuerySetBase: Any = models.QuerySet if TYPE_CHECKING else object


class ShowOnceMixin(_QuerySetBase):
    """Rows of a model with one :class:`DigestField`: made with a secret, found by it."""

    @sensitive_variables("raw")
    def create_with_secret(self, *, raw: str | None = None, **fields: Any) -> tuple[Any, str]:
        """Create a row holding the digest of ``raw`` (default: a new secret); return the row
        and the raw secret, which is stored nowhere."""
        field = digest_field(self.model)
        if raw is None:
            raw = field.generate()
        row = self.create(**{field.attname: field.stored_form(raw)}, **fields)
        return row, raw

    @sensitive_variables("raw")
    def by_secret(self, raw: str) -> Self:
        """The rows whose secret is ``raw`` (at most one: the column is unique)."""
        field = digest_field(self.model)
        return self.filter(**{field.attname: field.stored_form(raw)})


class ShowOnceQuerySet(ShowOnceMixin, models.QuerySet[Any]):
    pass
