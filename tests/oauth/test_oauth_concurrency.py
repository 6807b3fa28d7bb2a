"""Refresh token rotation under real concurrency: threads with their own connections."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from beep_iam.models import OAuthAccessToken, OAuthRefreshToken
from beep_iam.services import oauth_tokens
from beep_iam.services.oauth_errors import RefreshTokenReused
from beep_iam.services.oauth_tokens import ANY_CLIENT
from tests.factories import OAuthClientFactory, UserFactory

ROUNDS = 30


def _race(first: str, second: str | None = None) -> list[tuple[str, object]]:
    """Rotate ``first`` and ``second`` (default: ``first`` again) from two threads released
    together; each thread uses (and closes) its own database connection."""
    barrier = threading.Barrier(2)
    outcomes: list[tuple[str, object]] = []
    lock = threading.Lock()

    def worker(raw: str) -> None:
        try:
            barrier.wait(timeout=10)
            outcome: tuple[str, object] = (
                "ok",
                oauth_tokens.rotate_refresh_token(raw, client_id=ANY_CLIENT),
            )
        except Exception as exc:  # every outcome is reported; unexpected ones fail the test
            outcome = ("error", exc)
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    raws = (first, second or first)
    threads = [threading.Thread(target=worker, args=(raw,)) for raw in raws]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_rotations_of_one_token_exactly_one_wins():
    client = OAuthClientFactory()
    user = UserFactory()
    family = {"client_id": client.client_id, "user_id": user.pk}
    for round_no in range(ROUNDS):
        issued = oauth_tokens.issue_tokens(client, user=user, scopes=["openid"], with_refresh=True)
        outcomes = _race(issued.refresh_token)
        assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], f"round {round_no}"
        (error,) = [value for kind, value in outcomes if kind == "error"]
        # The loser is refused with the domain error, never a database error.
        assert isinstance(error, RefreshTokenReused), f"round {round_no}: {error!r}"
        # The loser presented an already rotated token: the family is revoked, the
        # winner's fresh pair included.
        assert not OAuthRefreshToken.objects.filter(revoked__isnull=True, **family).exists()
        assert not OAuthAccessToken.objects.filter(revoked__isnull=True, **family).exists()
    # Each round leaves the issued refresh token and the winner's new one, nothing more.
    assert OAuthRefreshToken.objects.filter(**family).count() == 2 * ROUNDS


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_replay_racing_the_familys_rotation_leaves_no_live_token():
    """The family lock: a replayed (rotated) token revokes the family, and a pair minted by
    a rotation of the current token at the same moment cannot escape that revocation."""
    client = OAuthClientFactory()
    user = UserFactory()
    family = {"client_id": client.client_id, "user_id": user.pk}
    for round_no in range(ROUNDS):
        old = oauth_tokens.issue_tokens(client, user=user, scopes=["openid"], with_refresh=True)
        current = oauth_tokens.rotate_refresh_token(old.refresh_token, client_id=ANY_CLIENT)
        outcomes = _race(current.refresh_token, old.refresh_token)
        errors = [value for kind, value in outcomes if kind == "error"]
        assert errors and all(isinstance(e, RefreshTokenReused) for e in errors), (
            f"round {round_no}: {outcomes!r}"
        )
        assert not OAuthRefreshToken.objects.filter(revoked__isnull=True, **family).exists(), (
            f"round {round_no}"
        )
        assert not OAuthAccessToken.objects.filter(revoked__isnull=True, **family).exists()
