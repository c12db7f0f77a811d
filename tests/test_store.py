"""`Store.exclusive`: the lock held around "answer we already have, else one billed call"."""

from __future__ import annotations

import asyncio

import pytest

from bot.clock import Clock
from bot.migrations import upgrade
from bot.store import Store


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
