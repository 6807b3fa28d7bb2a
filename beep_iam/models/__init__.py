"""beep_iam's tables: tenant-scoped ones in ``tenant``, OAuth ones in ``oauth``, and the global
(not tenant-scoped) better-auth tables one module each."""

from .account import CREDENTIAL_PROVIDER, Account
from .device_code import DeviceCode, DeviceCodeQuerySet, DeviceCodeStatus
from .jwks import Jwks
from .oauth import *  # noqa: F403
from .oauth import __all__ as _oauth_all
from .passkey import Passkey
from .rate_limit import RateLimit
from .tenant import *  # noqa: F403
from .tenant import __all__ as _tenant_all
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
    *_oauth_all,
    *_tenant_all,
]
