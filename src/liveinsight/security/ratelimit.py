"""Token-bucket rate limits (per API key, per client address): in-process, or shared by
every node through Redis.

Each key has a bucket of ``burst`` tokens refilled at ``rate`` tokens per second; sending N
events takes N tokens. :meth:`RateLimiter.take` answers 0.0 when the tokens were taken, else
the seconds to wait before the same request could pass (nothing is taken then).
:meth:`RateLimiter.acquire` does the same with the bucket's size and rate given per call (a
key's own usage plan) and also says how many tokens are left (``RateLimit-Remaining``);
with a ``quota`` it also counts what the key spent this UTC day and refuses, until the next
UTC midnight, what would take it past the quota (a key's daily quota).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("liveinsight.ratelimit")


DAY = 86_400


@dataclass(frozen=True, slots=True)
class Allowance:
    """One :meth:`RateLimiter.acquire`: ``wait`` 0.0 when the tokens were taken (else the
    seconds before they could be), ``remaining`` the tokens left after it. Under a daily
    quota, ``quota_left`` is what is left of it today (None: no quota) and ``over_quota``
    says the quota refused the call (``wait``: the seconds to the next UTC midnight)."""

    wait: float
    remaining: float
    quota_left: int | None = None
    over_quota: bool = False


def until_midnight(now: float) -> float:
    """Seconds from ``now`` (a Unix time) to the next UTC midnight (at least 1)."""
    return float(max(1, DAY - int(now) % DAY))


class RateLimiter(Protocol):
    """Contract: ``take(key, cost)`` and ``acquire(...)`` are atomic per key; ``cost`` above
    the bucket size is charged as a full bucket (so one big batch can pass an idle bucket).
    A key's bucket keeps the size and rate of its last call. A limiter that cannot reach its
    backend lets the request through (fail open, a full bucket left) and logs the error: a
    Redis outage must not stop ingestion nor the dashboard."""

    async def take(self, key: str, cost: int = 1) -> float: ...

    async def acquire(self, key: str, rate: float, burst: int, cost: int = 1,
                      quota: int = 0) -> Allowance: ...

    async def close(self) -> None: ...


def _refill(tokens: float, elapsed: float, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, elapsed) * rate)


class MemoryRateLimiter:
    """Buckets in this process's memory (one app node). Thread-safe. ``clock`` times the
    buckets; ``wall`` (Unix time) tells the UTC day of the daily quotas."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000,
                 wall: Callable[[], float] = time.time) -> None:
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._wall = wall
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._days: dict[str, tuple[int, int]] = {}  # key → (UTC day, spent that day)
        self._lock = threading.Lock()

    async def take(self, key: str, cost: int = 1) -> float:
        return self.take_now(key, cost)

    async def acquire(self, key: str, rate: float, burst: int, cost: int = 1,
                      quota: int = 0) -> Allowance:
        return self.acquire_now(key, rate, burst, cost, quota)

    def take_now(self, key: str, cost: int = 1) -> float:
        return self.acquire_now(key, self.rate, self.burst, cost).wait

    def acquire_now(self, key: str, rate: float, burst: int, cost: int = 1,
                    quota: int = 0) -> Allowance:
        charged, counted = min(cost, burst), min(cost, quota)
        now, wall = self._clock(), self._wall()
        today = int(wall) // DAY
        with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = _refill(tokens, now - last, rate, burst)
            day, spent = self._days.get(key, (today, 0))
            spent = spent if day == today else 0
            if quota > 0 and spent + counted > quota:
                return Allowance(until_midnight(wall), tokens, quota - spent, True)
            wait = 0.0 if tokens >= charged else (charged - tokens) / rate
            if not wait:
                tokens -= charged
                if quota > 0:
                    spent += counted
                    self._remember(self._days, key, (today, spent))
            self._remember(self._buckets, key, (tokens, now))
        return Allowance(wait, tokens, quota - spent if quota > 0 else None)

    def _remember(self, table: dict[str, Any], key: str, value: Any) -> None:
        if key not in table and len(table) >= self._max_keys:
            table.pop(next(iter(table)))
        table[key] = value

    async def close(self) -> None:
        self._buckets.clear()
        self._days.clear()


# KEYS[1] the bucket (a hash: tokens, ts and, under a quota, the UTC day and what was spent
# in it); ARGV rate, burst, cost, quota (0: none). Redis's own clock, so nodes need not agree
# on time. Answers wait, tokens, quota left (-1: no quota), refused by the quota (0/1).
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), burst)
local quota = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local today = math.floor(tonumber(t[1]) / 86400)
local to_midnight = 86400 - tonumber(t[1]) % 86400
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'day', 'spent')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
local spent = 0
if tonumber(state[3]) == today then spent = tonumber(state[4]) or 0 end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local counted = math.min(tonumber(ARGV[3]), quota)
if quota > 0 and spent + counted > quota then
  return {tostring(to_midnight), tostring(tokens), tostring(quota - spent), '1'}
end
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
local ttl = math.ceil(burst / rate * 1000) + 1000
if quota > 0 and wait == 0 then spent = spent + counted end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
if quota > 0 then
  redis.call('HSET', KEYS[1], 'day', tostring(today), 'spent', tostring(spent))
  ttl = math.max(ttl, to_midnight * 1000 + 1000)
end
redis.call('PEXPIRE', KEYS[1], ttl)
local left = -1
if quota > 0 then left = quota - spent end
return {tostring(wait), tostring(tokens), tostring(left), '0'}
"""


class Guard(Protocol):
    """A circuit breaker (``ops/breaker.py: Breaker``): refuses at once while Redis is
    known to be down, so an outage costs one timeout per trial, not one per request."""

    async def acall(self, fn: Callable[[], Awaitable[Any]], /) -> Any: ...


class RedisRateLimiter:
    """Buckets in Redis, updated by one Lua script per call (atomic across nodes)."""

    def __init__(self, url: str, rate: float, burst: int, prefix: str = "li:rl:",
                 breaker: Guard | None = None) -> None:
        from redis.asyncio import Redis

        self.rate, self.burst = rate, burst
        self._prefix = prefix
        self._breaker = breaker
        self._redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(_LUA)

    async def take(self, key: str, cost: int = 1) -> float:
        return (await self.acquire(key, self.rate, self.burst, cost)).wait

    async def acquire(self, key: str, rate: float, burst: int, cost: int = 1,
                      quota: int = 0) -> Allowance:
        def call() -> Awaitable[Any]:
            return self._script(keys=[self._prefix + key],
                                args=[rate, burst, cost, max(0, quota)])

        try:
            wait, tokens, left, over = await (self._breaker.acall(call) if self._breaker
                                              else call())
        except Exception as exc:  # any Redis failure: fail open, see RateLimiter
            if not getattr(exc, "dependency", None):  # refused by the open breaker: quiet
                log.warning("rate limiter: Redis failed, letting the request through: %s",
                            exc)
            return Allowance(0.0, float(burst), quota if quota > 0 else None)
        value, bucket, quota_left = float(wait), float(tokens), int(float(left))
        return Allowance(value if math.isfinite(value) else 0.0,
                         bucket if math.isfinite(bucket) else float(burst),
                         quota_left if quota > 0 else None, over == b"1" or over == "1")

    async def close(self) -> None:
        await self._redis.aclose()


def open_rate_limiter(redis_url: str | None, rate: float, burst: int,
                      prefix: str = "li:rl:", breaker: Guard | None = None) -> RateLimiter:
    """Redis-backed when ``redis_url`` is set (keys under ``prefix``, calls through
    ``breaker``), else in-process."""
    if redis_url:
        return RedisRateLimiter(redis_url, rate, burst, prefix=prefix, breaker=breaker)
    return MemoryRateLimiter(rate, burst)


def retry_after(wait: float) -> str:
    """A ``Retry-After`` value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(wait)))
