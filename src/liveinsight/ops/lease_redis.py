"""The evaluator's lease in Redis: ``SET key holder NX PX ttl`` takes it; renewing and
releasing compare the holder first (one Lua script each, atomic on the server). Expiry is
Redis's own clock."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    def __init__(self, url: str, key: str = "liveinsight:lease:alert-evaluator") -> None:
        self._redis: Any = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._key = key

    async def acquire(self, holder: str, ttl_s: float) -> bool:
        ttl_ms = max(1, int(ttl_s * 1000))
        if await self._redis.set(self._key, holder, nx=True, px=ttl_ms):
            return True
        return bool(await self._redis.eval(_RENEW, 1, self._key, holder, ttl_ms))

    async def release(self, holder: str) -> None:
        await self._redis.eval(_RELEASE, 1, self._key, holder)

    async def holder(self) -> str | None:
        value = await self._redis.get(self._key)
        return value.decode() if value is not None else None

    async def close(self) -> None:
        await self._redis.aclose()
