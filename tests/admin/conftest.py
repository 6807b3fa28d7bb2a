"""What the admin tests share: a superuser (a factory user, no usable password) and a test
client signed in as it. A module that needs another kind of superuser defines its own."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def superuser():
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True, password="!")


@pytest.fixture
def admin_client(client, superuser) -> Client:
    client.force_login(superuser)
    return client
