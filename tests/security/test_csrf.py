"""Signed ingest tokens: bound to a session id, expiring, unforgeable without the secret."""

from __future__ import annotations

import pytest

from liveinsight.security.csrf import TokenError, issue, valid_session_id, verify

SECRET = b"a-test-secret"


def test_a_token_verifies_for_its_session_until_expiry() -> None:
    token = issue(SECRET, "sess-1", now=1000.0, ttl_seconds=60)
    assert token.expires_at == 1060
    verify(SECRET, "sess-1", token.value, now=1059.0)
    with pytest.raises(TokenError, match="expired"):
        verify(SECRET, "sess-1", token.value, now=1060.0)


@pytest.mark.parametrize("mutate", [
    lambda t: t.replace(t.split(".")[0], "9999999999"),  # extended expiry
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: t.split(".")[0],
    lambda t: "",
    lambda t: "abc.def",
    lambda t: "1" * 20 + ".x",
    lambda t: t + "é",
])
def test_forged_tokens_are_refused(mutate: object) -> None:
    token = issue(SECRET, "sess-1", now=1000.0, ttl_seconds=60).value
    with pytest.raises(TokenError):
        verify(SECRET, "sess-1", mutate(token), now=1001.0)  # type: ignore[operator]


def test_a_token_is_bound_to_its_session_and_secret() -> None:
    token = issue(SECRET, "sess-1", now=1000.0, ttl_seconds=60).value
    with pytest.raises(TokenError, match="this session"):
        verify(SECRET, "sess-2", token, now=1001.0)
    with pytest.raises(TokenError):
        verify(b"another-secret", "sess-1", token, now=1001.0)


def test_session_id_shape() -> None:
    assert valid_session_id("a1b2-c3_d4.e5")
    assert not valid_session_id("")
    assert not valid_session_id("has space")
    assert not valid_session_id("x" * 129)
    assert not valid_session_id("ünicode")
