"""Token-bucket rate limits (per API key, per client address): in-process, or shared by
every node through Redis.

Each key has a bucket of ``burst`` tokens refilled at ``rate`` tokens per second; sending N
events takes N tokens. :meth:`RateLimiter.take` answers 0.0 when the tokens were taken, else
the seconds to wait before the same request could pass (nothing is taken then).
:meth:`RateLimiter.acquire` does the same with the bucket's size and rate given per call (a
key's own usage plan) and also says how many tokens are left (``RateLimit-Remaining``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("liveinsight.ratelimit")


@dataclass(frozen=True, slots=True)
class Allowance:
    """One :meth:`RateLimiter.acquire`: ``wait`` 0.0 when the tokens were taken (else the
    seconds before they could be), ``remaining`` the tokens left after it."""

    wait: float
    remaining: float


class RateLimiter(Protocol):
    """Contract: ``take(key, cost)`` and ``acquire(...)`` are atomic per key; ``cost`` above
    the bucket size is charged as a full bucket (so one big batch can pass an idle bucket).
    A key's bucket keeps the size and rate of its last call. A limiter that cannot reach its
    backend lets the request through (fail open, a full bucket left) and logs the error: a
    Redis outage must not stop ingestion nor the dashboard."""

    async def take(self, key: str, cost: int = 1) -> float: ...

    async def acquire(self, key: str, rate: float, burst: int, cost: int = 1
                      ) -> Allowance: ...

    async def close(self) -> None: ...


def _refill(tokens: float, elapsed: float, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, elapsed) * rate)


class MemoryRateLimiter:
    """Buckets in this process's memory (one app node). Thread-safe."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def take(self, key: str, cost: int = 1) -> float:
        return self.take_now(key, cost)

    async def acquire(self, key: str, rate: float, burst: int, cost: int = 1) -> Allowance:
        return self.acquire_now(key, rate, burst, cost)

    def take_now(self, key: str, cost: int = 1) -> float:
        return self.acquire_now(key, self.rate, self.burst, cost).wait

    def acquire_now(self, key: str, rate: float, burst: int, cost: int = 1) -> Allowance:
        cost = min(cost, burst)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = _refill(tokens, now - last, rate, burst)
            wait = 0.0 if tokens >= cost else (cost - tokens) / rate
            if not wait:
                tokens -= cost
            if key not in self._buckets and len(self._buckets) >= self._max_keys:
                self._buckets.pop(next(iter(self._buckets)))
            self._buckets[key] = (tokens, now)
        return Allowance(wait, tokens)

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV rate, burst, cost. Redis's own clock, so nodes need not agree on time.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), burst)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {tostring(wait), tostring(tokens)}
"""


class RedisRateLimiter:
    """Buckets in Redis, updated by one Lua script per call (atomic across nodes)."""

    def __init__(self, url: str, rate: float, burst: int, prefix: str = "li:rl:") -> None:
        from redis.asyncio import Redis

        self.rate, self.burst = rate, burst
        self._prefix = prefix
        self._redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(_LUA)

    async def take(self, key: str, cost: int = 1) -> float:
        return (await self.acquire(key, self.rate, self.burst, cost)).wait

    async def acquire(self, key: str, rate: float, burst: int, cost: int = 1) -> Allowance:
        try:
            wait, tokens = await self._script(keys=[self._prefix + key],
                                              args=[rate, burst, cost])
        except Exception as exc:  # any Redis failure: fail open, see RateLimiter
            log.warning("rate limiter: Redis failed, letting the request through: %s", exc)
            return Allowance(0.0, float(burst))
        value, left = float(wait), float(tokens)
        return Allowance(value if math.isfinite(value) else 0.0,
                         left if math.isfinite(left) else float(burst))

    async def close(self) -> None:
        await self._redis.aclose()


def open_rate_limiter(redis_url: str | None, rate: float, burst: int,
                      prefix: str = "li:rl:") -> RateLimiter:
    """Redis-backed when ``redis_url`` is set (keys under ``prefix``), else in-process."""
    if redis_url:
        return RedisRateLimiter(redis_url, rate, burst, prefix=prefix)
    return MemoryRateLimiter(rate, burst)


def retry_after(wait: float) -> str:
    """A ``Retry-After`` value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(wait)))
