"""Dedup claims and short-lived caches in Redis, when HRBOT_REDIS_URL is set: shared by replicas, expired by Redis."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

PREFIX = "hrbot:"

# All keys new → set them all with the retention; any already there → set none. Atomic in Redis.
_CLAIM = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, '1', 'EX', ARGV[1])
end
return 1
"""


class RedisState:
    def __init__(self, url: str, retention: timedelta) -> None:
        self.redis = Redis.from_url(url)
        self.retention_seconds = int(retention.total_seconds())
        self._claim = self.redis.register_script(_CLAIM)

    async def claim(self, keys: list[str]) -> bool:
        return bool(
            await self._claim(keys=[f"{PREFIX}seen:{k}" for k in keys], args=[self.retention_seconds])
        )

    async def claimed(self, key: str) -> bool:
        return bool(await self.redis.exists(f"{PREFIX}seen:{key}"))

    async def cache_get(self, key: str) -> Any | None:
        raw = await self.redis.get(f"{PREFIX}cache:{key}")
        return None if raw is None else json.loads(raw)

    async def cache_set(self, key: str, value: Any, ttl: timedelta) -> None:
        await self.redis.set(
            f"{PREFIX}cache:{key}", json.dumps(value, ensure_ascii=False), ex=max(int(ttl.total_seconds()), 1)
        )

    async def aclose(self) -> None:
        await self.redis.aclose()
