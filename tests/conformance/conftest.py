"""RFC conformance probes (review 10): each test cites the section and words it checks. The
fixtures of tests/oauth2/conftest.py (the issuer, the registered clients, the user)."""

import pytest

from tests.oauth2.conftest import _issuer, logout_client, machine, spa, user, web  # noqa: F401


@pytest.fixture
def signed_in(client, user):  # noqa: F811 (user: the fixture imported above)
    client.force_login(user)
    return client
