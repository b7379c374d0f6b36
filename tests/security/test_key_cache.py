"""The API key cache: one database verification per key per TTL, misses cached too."""

from __future__ import annotations

from liveinsight.meta.repo import ApiKeyInfo
from liveinsight.security.key_cache import ApiKeyCache

KEY = ApiKeyInfo(1, "server", "abcd1234", ("ingest",), None)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_answers_are_cached_for_the_ttl() -> None:
    calls: list[str] = []
    known = {"li_good": KEY}

    def verify(plaintext: str) -> ApiKeyInfo | None:
        calls.append(plaintext)
        return known.get(plaintext)

    clock = Clock()
    cache = ApiKeyCache(verify, ttl_seconds=30, clock=clock)
    assert cache.cached("li_good") == (False, None)
    assert cache.verify("li_good") == KEY
    assert cache.verify("li_bad") is None
    assert cache.cached("li_good") == (True, KEY)
    assert cache.cached("li_bad") == (True, None)
    assert cache.verify("li_good") == KEY and cache.verify("li_bad") is None
    assert calls == ["li_good", "li_bad"]
    del known["li_good"]  # revoked: still accepted until the entry expires
    clock.now = 29.9
    assert cache.verify("li_good") == KEY
    clock.now = 30.0
    assert cache.verify("li_good") is None
    assert calls == ["li_good", "li_bad", "li_good"]


def test_the_cache_is_bounded() -> None:
    cache = ApiKeyCache(lambda _: None, ttl_seconds=30, clock=Clock(), max_entries=2)
    for key in ("a", "b", "c"):
        cache.verify(key)
    assert cache.cached("a") == (False, None)
    assert cache.cached("c") == (True, None)
