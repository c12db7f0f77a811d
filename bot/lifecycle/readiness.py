"""Readiness (`GET /readyz`): named checks, each saying "ok" or a short reason. `/healthz` stays liveness.

Anything that can make the bot unable to do its work adds a check (`Readiness.add`): storage here; the long
connection and Feishu reachability can report the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

if TYPE_CHECKING:
    from bot.state.redis_state import RedisState
    from bot.state.store import Store

log = logging.getLogger("hrbot.readiness")

# A check answers None when fine, else a short reason (no secrets, no internals).
Check = Callable[[], Awaitable[str | None]]
CHECK_SECONDS = 2.0


class Readiness:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    async def run(self) -> tuple[bool, dict[str, str]]:
        """Every check at once, each bounded in time: (all fine, name → "ok" or reason)."""
        names = list(self._checks)
        answers = await asyncio.gather(*(self._one(name) for name in names))
        results = {name: answer or "ok" for name, answer in zip(names, answers, strict=True)}
        return all(answer is None for answer in answers), results

    async def _one(self, name: str) -> str | None:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                return await self._checks[name]()
        except TimeoutError:
            return f"no answer within {CHECK_SECONDS:g} s"
        except Exception as exc:
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            return f"failed ({type(exc).__name__})"


class StorageCheck:
    """The database answers, accepts a write, and is still the one the bot started with.

    A SQLite file deleted while the bot runs keeps working through the open connections (the inode lives on) and
    everything is lost at restart: the file's identity (device, inode) is compared with the one at start. On
    PostgreSQL the database's oid is compared, so a dropped and recreated database is noticed.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        url = make_url(store.url)
        self._sqlite_path = url.database if url.get_backend_name() == "sqlite" and url.database else None
        self._identity: object = None

    async def remember(self) -> None:
        """Record the database's identity; call once at start, after migrations."""
        self._identity = await self._current_identity()

    async def _current_identity(self) -> object:
        if self._sqlite_path is not None:
            stat = os.stat(self._sqlite_path)
            return (stat.st_dev, stat.st_ino)
        async with self.store.engine.connect() as connection:
            return (
                await connection.execute(
                    text("SELECT oid FROM pg_database WHERE datname = current_database()")
                )
            ).scalar_one()

    async def __call__(self) -> str | None:
        try:
            identity = await self._current_identity()
        except FileNotFoundError:
            return "database file is gone"
        if identity != self._identity:
            return "database was replaced since start"
        # A write that matches no row still needs a write transaction: a read-only or locked-out database fails.
        async with self.store.engine.connect() as connection:
            await connection.execute(text("UPDATE processed_events SET key = key WHERE 1 = 0"))
            await connection.rollback()
        return None


def redis_check(redis: RedisState) -> Check:
    async def check() -> str | None:
        return None if await redis.redis.ping() else "redis did not answer the ping"

    return check


class SchedulerCheck:
    """The scheduler's job store answers a write and is still the database it started with.

    On SQLite it is a sibling file (`store.scheduler_url`): deleted while running, the jobs would be gone at restart
    while the bot's own database looks fine. Its engine is synchronous, so the check runs in a thread.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        url = engine.url
        self._sqlite_path = url.database if url.get_backend_name() == "sqlite" and url.database else None
        self._identity: object = None

    async def remember(self) -> None:
        self._identity = await asyncio.to_thread(self._current_identity)

    def _current_identity(self) -> object:
        if self._sqlite_path is None:
            return None  # the bot's own database: StorageCheck watches its identity
        stat = os.stat(self._sqlite_path)
        return (stat.st_dev, stat.st_ino)

    async def __call__(self) -> str | None:
        return await asyncio.to_thread(self._check)

    def _check(self) -> str | None:
        try:
            identity = self._current_identity()
        except FileNotFoundError:
            return "scheduler database file is gone"
        if identity != self._identity:
            return "scheduler database was replaced since start"
        with self.engine.connect() as connection:
            connection.execute(text("UPDATE scheduler_jobs SET id = id WHERE 1 = 0"))
            connection.rollback()
        return None
