"""Signed session cookies and their CSRF tokens."""

from __future__ import annotations

import base64

from liveinsight.security import sessions

SECRET = b"a-secret-with-enough-entropy-for-tests"


def test_a_session_round_trips() -> None:
    data = sessions.new_session(7, 1_000_000.0)
    token = sessions.encode(SECRET, data)
    assert sessions.decode(SECRET, token, 1_000_100.0) == data


def test_tampered_or_foreign_tokens_are_refused() -> None:
    data = sessions.new_session(7, 1_000_000.0)
    token = sessions.encode(SECRET, data)
    payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "==").replace(b'"u":7', b'"u":1')).rstrip(b"=")
    assert sessions.decode(SECRET, f"{forged.decode()}.{signature}", 1_000_001.0) is None
    assert sessions.decode(SECRET, f"{payload}.{signature[:-2]}AA", 1_000_001.0) is None
    assert sessions.decode(b"another-secret", token, 1_000_001.0) is None
    for junk in (None, "", "abc", "a.b.c", ".", "e30.", "!!!.???"):
        assert sessions.decode(SECRET, junk, 1_000_001.0) is None


def test_sessions_expire_and_do_not_come_from_the_future() -> None:
    data = sessions.new_session(7, 1_000_000.0)
    token = sessions.encode(SECRET, data)
    assert sessions.decode(SECRET, token, 1_000_000.0 + sessions.MAX_AGE_S) == data
    assert sessions.decode(SECRET, token, 1_000_001.0 + sessions.MAX_AGE_S) is None
    assert sessions.decode(SECRET, token, 999_000.0) is None


def test_csrf_tokens_are_bound_to_the_session() -> None:
    one = sessions.new_session(7, 1_000_000.0)
    two = sessions.new_session(7, 1_000_000.0)
    token = sessions.csrf_token(SECRET, one)
    assert sessions.check_csrf(SECRET, one, token)
    assert not sessions.check_csrf(SECRET, two, token)
    assert not sessions.check_csrf(SECRET, one, None)
    assert not sessions.check_csrf(SECRET, one, "")
    assert not sessions.check_csrf(b"another-secret", one, token)
