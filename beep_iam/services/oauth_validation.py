"""Moved to :mod:`beep_iam.validators` (the one home of the client rules); these names stay
importable from here for ``beep_iam.oauth2`` until it imports that module directly."""

from beep_iam.validators import MAX_URI_LENGTH, validate_scopes

__all__ = ["MAX_URI_LENGTH", "validate_scopes"]
