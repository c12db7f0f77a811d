"""Dedup claims and short-lived caches in Redis, when HRBOT_REDIS_URL is set: shared by replicas, expired by Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockNotOwnedError, RedisError

from bot.cancelling import cancel_and_wait

log = logging.getLogger("hrbot.redis")

# A held lock is renewed every LOCK_RENEW_SECONDS while its holder lives; one a killed replica left lapses within
# LOCK_SECONDS, so the replica taking over its events is not kept waiting long.
LOCK_SECONDS = 5
LOCK_RENEW_SECONDS = 1.5

PREFIX = "hrbot:"
# Cache keys scored by when they lapse on the bot's clock (which the sandbox and tests move): the purge job and reads
# go by it; Redis's own TTL, on the wall clock, is the backstop.
EXPIRY = f"{PREFIX}cache-expiry"

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

    async def seen(self, keys: list[str]) -> bool:
        """Whether any key was claimed: a redelivery, turned away without asking the database."""
        return bool(await self.redis.exists(*(f"{PREFIX}seen:{k}" for k in keys)))

    async def claimed(self, key: str) -> bool:
        return bool(await self.redis.exists(f"{PREFIX}seen:{key}"))

    async def cache_get(self, key: str, now: datetime) -> Any | None:
        name = f"{PREFIX}cache:{key}"
        async with self.redis.pipeline(transaction=False) as pipe:
            raw, lapses = await pipe.get(name).zscore(EXPIRY, name).execute()
        if raw is None or (lapses is not None and lapses <= now.timestamp()):
            return None
        return json.loads(raw)

    async def cache_set(self, key: str, value: Any, ttl: timedelta, expires_at: datetime) -> None:
        name = f"{PREFIX}cache:{key}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(name, json.dumps(value, ensure_ascii=False), ex=max(int(ttl.total_seconds()), 1))
            pipe.zadd(EXPIRY, {name: expires_at.timestamp()})
            await pipe.execute()

    async def purge_cache(self, now: datetime) -> int:
        lapsed = await self.redis.zrangebyscore(EXPIRY, "-inf", now.timestamp())
        if not lapsed:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*lapsed)
            pipe.zrem(EXPIRY, *lapsed)
            await pipe.execute()
        return len(lapsed)

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        """Held across replicas without holding a database connection (a provider call can take seconds), renewed
        while held."""
        lock: Lock = self.redis.lock(f"{PREFIX}lock:{name}", timeout=LOCK_SECONDS, sleep=0.02)
        await lock.acquire()
        released = asyncio.Event()
        renewing = asyncio.create_task(_renew(lock, name, released))
        try:
            yield
        finally:
            # The flag too: a cancellation can be lost inside redis-py's send (bot/cancelling.py).
            released.set()
            await cancel_and_wait(renewing)
            try:
                await lock.release()
            except LockNotOwnedError:
                # The work inside is done (a reply, a cached answer): failing it now would only hide its result.
                log.warning("lock %s lapsed while held (renewal came too late); it was not released", name)
            except RedisError as exc:
                # Likewise; the lock lapses by itself within LOCK_SECONDS.
                log.warning(
                    "lock %s not released (%s); it lapses within %d s", name, type(exc).__name__, LOCK_SECONDS
                )

    async def aclose(self) -> None:
        await self.redis.aclose()


async def _renew(lock: Lock, name: str, released: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(LOCK_RENEW_SECONDS)
        if released.is_set():
            return
        try:
            await lock.reacquire()
        except LockNotOwnedError:
            # Too late (this process was stalled past LOCK_SECONDS): another holder may be inside now.
            log.warning("lock %s lapsed while held: another replica may enter it meanwhile", name)
            return
        except RedisError as exc:
            # A blip: the next renewal may still come in time.
            log.warning("lock %s not renewed this time (%s)", name, type(exc).__name__)
