"""``wallet_address``: blockchain addresses a user signed in with (Sign-In with Ethereum)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from beep_shared.db.fields import ForeignKey
from beep_shared.models import Table


class WalletAddress(Table):
    """An address on one chain (EIP-155 chain id) that belongs to a user."""

    user = ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallet_addresses"
    )
    address = models.TextField()
    chain_id = models.IntegerField(help_text="EIP-155 chain id, e.g. 1 for Ethereum mainnet.")
    is_primary = models.BooleanField(default=False, db_default=False)

    class Meta:
        db_table = "wallet_address"
        verbose_name_plural = "wallet addresses"
        constraints = [
            # Leading user_id: also the index for the foreign key.
            models.UniqueConstraint(
                fields=["user", "address", "chain_id"],
                name="wallet_address_user_id_address_chain_id_key",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_primary=True),
                name="wallet_address_user_id_primary_key",
                violation_error_message="A user can have only one primary wallet address.",
            ),
            models.CheckConstraint(
                condition=Q(chain_id__gt=0),
                name="wallet_address_chain_id_positive",
                violation_error_message="chain_id must be more than 0.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} (chain {self.chain_id})"
