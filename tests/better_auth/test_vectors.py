"""better-auth's cookie signatures and password hashes, checked against its own code.

Every value here comes from better-auth's functions at test time (both lines), never from a
copy of their output, so a change on their side fails these tests.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password

from beep_iam.better_auth import hashers, signing
from tests.better_auth.node_vectors import better_auth

SECRET = "interop-secret-interop-secret-0123456789"
COOKIE = "better-auth.session_token"
# A better-auth token, one of this project's, and values that need percent-encoding.
VALUES = ["Zk3u0QvK9aX2bYc7dEf1gHi4jLm6nOp8", "rT2-x_9kQ0aB" * 3 + "AbCdEfG", "a b+c/é;=.d"]
# NFKC folds the ligature into "fi" on both sides.
PASSWORDS = ["correct horse battery staple", "pässwörd ✓", "ﬁne-print"]

pytestmark = pytest.mark.parametrize("line", ["1.7", "1.4"])


def test_cookies_signed_by_better_auth_verify_here(line):
    answers = better_auth(line, [{"op": "sign", "value": v, "secret": SECRET} for v in VALUES])
    for value, answer in zip(VALUES, answers, strict=True):
        assert signing.unsign(answer["cookie"], SECRET) == value
        assert signing.unsign(answer["cookie"], SECRET + "x") is None
        # HMAC is deterministic: the same value gives the very same cookie.
        assert signing.sign(value, SECRET) == answer["cookie"]


def test_cookies_signed_here_verify_in_better_auth(line):
    forged = signing.sign(VALUES[0], "another-secret-another-secret-0123456789")
    requests = [
        {"op": "unsign", "name": COOKIE, "cookie": signing.sign(v, SECRET), "secret": SECRET}
        for v in VALUES
    ]
    requests.append({"op": "unsign", "name": COOKIE, "cookie": forged, "secret": SECRET})
    answers = better_auth(line, requests)
    assert [a["value"] for a in answers] == [*VALUES, False]


def test_tampered_cookies_are_rejected_on_both_sides(line):
    good = signing.sign(VALUES[0], SECRET)
    token, _, sig = good.partition(".")
    tampered = [
        f"{token}x.{sig}",  # value changed
        f"{token}.{sig[:-4]}AAA%3D",  # signature changed, still 44 characters
        token,  # no signature
        f"{token}.{sig[:-3]}",  # signature cut short
    ]
    answers = better_auth(
        line, [{"op": "unsign", "name": COOKIE, "cookie": c, "secret": SECRET} for c in tampered]
    )
    for cookie, answer in zip(tampered, answers, strict=True):
        assert signing.unsign(cookie, SECRET) is None
        assert answer["value"] in (None, False)


def test_better_auth_password_hashes_verify_in_django(line, settings):
    settings.PASSWORD_HASHERS = ["beep_iam.better_auth.hashers.BetterAuthScryptPasswordHasher"]
    answers = better_auth(line, [{"op": "hash", "password": p} for p in PASSWORDS])
    for password, answer in zip(PASSWORDS, answers, strict=True):
        stored = answer["hash"]
        assert hashers.verify_better_auth(password, stored)
        assert not hashers.verify_better_auth(password + " ", stored)
        encoded = hashers.from_better_auth(stored)
        assert check_password(password, encoded)
        assert not check_password(password.upper(), encoded)
        assert hashers.to_better_auth(encoded) == stored
    assert hashers.verify_better_auth("fine-print", answers[2]["hash"])


def test_django_password_hashes_verify_in_better_auth(line):
    stored = [hashers.hash_for_better_auth(p) for p in PASSWORDS]
    requests = [
        {"op": "verify", "hash": h, "password": p} for h, p in zip(stored, PASSWORDS, strict=True)
    ]
    requests += [
        {"op": "verify", "hash": h, "password": p + "!"}
        for h, p in zip(stored, PASSWORDS, strict=True)
    ]
    requests.append({"op": "verify", "hash": stored[2], "password": "fine-print"})
    answers = better_auth(line, requests)
    assert [a["ok"] for a in answers] == [True] * 3 + [False] * 3 + [True]
