"""The global (not org-scoped) IAM tables, one module each, gathered here."""

from .account import CREDENTIAL_PROVIDER, Account
from .device_code import DeviceCode, DeviceCodeQuerySet, DeviceCodeStatus
from .jwks import Jwks
from .passkey import Passkey
from .rate_limit import RateLimit
from .two_factor import TwoFactor
from .verification import Verification
from .wallet_address import WalletAddress

__all__ = [
    "CREDENTIAL_PROVIDER",
    "Account",
    "DeviceCode",
    "DeviceCodeQuerySet",
    "DeviceCodeStatus",
    "Jwks",
    "Passkey",
    "RateLimit",
    "TwoFactor",
    "Verification",
    "WalletAddress",
]
