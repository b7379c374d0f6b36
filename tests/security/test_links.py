"""Signed link tokens: what verifies and what does not."""

from __future__ import annotations

from liveinsight.security.links import LinkToken, sign, verify

SECRET = b"s" * 32


def test_a_token_verifies_until_it_expires() -> None:
    token = LinkToken("invite", 7, "nonce", 1000)
    text = sign(SECRET, token)
    assert verify(SECRET, text, "invite", 999.0) == token
    assert verify(SECRET, text, "invite", 1000.0) is None


def test_forged_altered_or_foreign_tokens_are_refused() -> None:
    text = sign(SECRET, LinkToken("invite", 7, "nonce", 1000))
    payload, signature = text.split(".")
    other = sign(SECRET, LinkToken("invite", 8, "nonce", 1000)).split(".")[0]
    for bad in (f"{other}.{signature}", f"{payload}.{signature[::-1]}", payload, "", "a.b.c",
                "x" * 500):
        assert verify(SECRET, bad, "invite", 0.0) is None
    assert verify(b"t" * 32, text, "invite", 0.0) is None  # another server's secret
    assert verify(SECRET, text, "share", 0.0) is None  # another purpose
