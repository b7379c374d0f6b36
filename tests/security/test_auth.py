"""The login rate limit: failures per address in a sliding window."""

from __future__ import annotations

from liveinsight.security.auth import LoginLimiter


def test_an_address_waits_after_too_many_failures_then_may_retry() -> None:
    limiter = LoginLimiter(attempts=3, window_s=60)
    for t in (0.0, 1.0, 2.0):
        assert limiter.retry_after("198.51.100.7", t) == 0
        limiter.failed("198.51.100.7", t)
    assert 0 < limiter.retry_after("198.51.100.7", 3.0) <= 58
    assert limiter.retry_after("203.0.113.9", 3.0) == 0  # other addresses are not affected
    assert limiter.retry_after("198.51.100.7", 61.0) == 0  # the first failure aged out


def test_a_successful_login_clears_the_count() -> None:
    limiter = LoginLimiter(attempts=2, window_s=60)
    limiter.failed("198.51.100.7", 0.0)
    limiter.succeeded("198.51.100.7")
    limiter.failed("198.51.100.7", 1.0)
    assert limiter.retry_after("198.51.100.7", 2.0) == 0
