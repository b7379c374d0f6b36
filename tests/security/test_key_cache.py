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


def test_concurrent_misses_of_one_key_make_one_query() -> None:
    import threading
    import time

    calls: list[str] = []

    def slow_verify(plaintext: str) -> ApiKeyInfo | None:
        calls.append(plaintext)
        time.sleep(0.2)
        return KEY

    cache = ApiKeyCache(slow_verify, ttl_seconds=30, clock=Clock())
    answers: list[ApiKeyInfo | None] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.verify("li_good")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [KEY] * 8 and calls == ["li_good"]
