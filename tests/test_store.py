"""`Store.exclusive`: the lock held around "answer we already have, else one billed call"."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.clock import Clock
from bot.migrations import upgrade
from bot.redis_state import RedisState
from bot.store import Store
from tests.conftest import REDIS_URL, eventually


async def _overlap(first: Store, second: Store) -> list[str]:
    order: list[str] = []

    async def hold(store: Store, tag: str) -> None:
        async with store.exclusive("micro-ent:成都成电光信科技股份有限公司"):
            order.append(f"{tag}-in")
            await asyncio.sleep(0.2)
            order.append(f"{tag}-out")

    await asyncio.gather(hold(first, "a"), hold(second, "b"))
    return order


async def test_one_holder_at_a_time_in_a_process(database_url: str) -> None:
    upgrade(database_url)
    store = Store(database_url, Clock())
    try:
        assert await _overlap(store, store) == ["a-in", "a-out", "b-in", "b-out"]
    finally:
        await store.dispose()


async def test_one_holder_at_a_time_across_replicas(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("across processes the lock is PostgreSQL's (advisory); SQLite serves a single process")
    upgrade(database_url)
    first, second = Store(database_url, Clock()), Store(database_url, Clock())
    try:
        order = await _overlap(first, second)
        assert order in (["a-in", "a-out", "b-in", "b-out"], ["b-in", "b-out", "a-in", "a-out"])
    finally:
        await first.dispose()
        await second.dispose()


async def test_many_locks_held_at_once_leave_the_database_free(database_url: str) -> None:
    """Through Redis, 40 lookups in flight (more than the database pool's 15 connections) hold no connection."""
    if not (database_url.startswith("postgresql") and REDIS_URL):
        pytest.skip("the Redis lock is used with Redis configured (CI's second pass)")
    upgrade(database_url)
    redis_state = RedisState(REDIS_URL, timedelta(hours=1))
    first, second = (
        Store(database_url, Clock(), redis=redis_state),
        Store(database_url, Clock(), redis=redis_state),
    )
    try:
        assert await _overlap(first, second) in (
            ["a-in", "a-out", "b-in", "b-out"],
            ["b-in", "b-out", "a-in", "a-out"],
        )
        release = asyncio.Event()
        held = 0

        async def hold(index: int) -> None:
            nonlocal held
            async with first.exclusive(f"enterprise-social:公司{index}"):
                held += 1
                await release.wait()

        holders = [asyncio.create_task(hold(i)) for i in range(40)]
        await eventually(lambda: _true(held == 40), what="40 locks held")
        async with asyncio.timeout(5):
            assert not await first.cache_get("nothing")
            async with first.engine.connect() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        release.set()
        await asyncio.gather(*holders)
    finally:
        await first.dispose()
        await second.engine.dispose()


async def _true(value: bool) -> bool:
    return value
