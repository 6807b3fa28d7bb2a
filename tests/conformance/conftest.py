"""RFC conformance probes (review 10): each test cites the section and words it checks. The
fixtures of tests/oauth2/conftest.py (the issuer, the registered clients, the user)."""

from tests.oauth2.conftest import _issuer, machine, spa, user, web  # noqa: F401
