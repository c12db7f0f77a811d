"""`Store.exclusive`: the lock held around "answer we already have, else one billed call"; `Store.claim`: dedup."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.clock import Clock
from bot.state.migrations import upgrade
from bot.state.redis_state import RedisState
from bot.state.store import Store, Written, _PostgresClaims
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


# Dedup claims ----------------------------------------------------------------------------------------------------
async def test_a_key_is_claimed_once_even_within_one_batch(database_url: str) -> None:
    upgrade(database_url)
    store = Store(database_url, Clock())
    try:
        assert await store.claim(["event:a", "message:a"])
        # Arriving together, these go in one write: the first claim of a key wins, a redelivery loses.
        results = await asyncio.gather(
            store.claim(["event:b", "message:b"]),
            store.claim(["event:c", "message:b"]),
            store.claim(["event:d", "message:a"]),
        )
        assert results == [True, False, False]
        assert await store.claimed("event:b") and await store.claimed("event:c")
    finally:
        await store.dispose()
    again = Store(database_url, Clock())  # a restart: what was claimed stays claimed
    try:
        assert not await again.claim(["event:a"]) and not await again.claim(["message:b"])
        assert await again.claim(["event:e"])
    finally:
        await again.dispose()


async def test_a_burst_larger_than_one_statement_is_claimed_exactly_once(database_url: str) -> None:
    upgrade(database_url)
    store = Store(database_url, Clock())
    try:
        # 1,500 claims of 2 keys at once, each message twice: far more variables than one SQLite statement takes.
        claims = [[f"event:{i}", f"message:{i // 2}"] for i in range(1500)]
        results = await asyncio.gather(*(store.claim(keys) for keys in claims))
        assert results == [i % 2 == 0 for i in range(1500)]
        assert await store.claimed("event:1499") and await store.claimed("message:749")
    finally:
        await store.dispose()


async def test_claims_are_purged_after_the_retention(database_url: str) -> None:
    upgrade(database_url)
    clock = Clock()
    store = Store(database_url, clock)
    try:
        await store.claim(["event:old", "message:old"])
        clock.advance(timedelta(hours=47))
        await store.claim(["event:new"])
        clock.advance(timedelta(hours=2))
        assert await store.purge_processed(timedelta(hours=48)) == 2
        assert not await store.claimed("event:old") and await store.claimed("event:new")
        assert await store.claim(["message:old"])
    finally:
        await store.dispose()


async def test_claims_go_on_after_postgresql_drops_the_connection(database_url: str, monkeypatch) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server that drops connections: PostgreSQL's (SQLite is a file)")
    upgrade(database_url)
    store = Store(database_url, Clock())
    try:
        assert await store.claim(["event:before"])
        async with store.engine.connect() as conn:  # what a restart or an idle-connection reaper does
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        # After a pause the claims connection is checked before it is written to: no event fails for it.
        monkeypatch.setattr(_PostgresClaims, "PING_AFTER_SECONDS", 0.0)
        assert await store.claim(["event:after"])
        assert not await store.claim(["event:before"])
    finally:
        await store.dispose()


async def test_a_failed_finish_does_not_fail_the_claims_written_beside_it(database_url: str) -> None:
    """On PostgreSQL the claims' INSERT commits before the finishes' UPDATE runs: if only the UPDATE fails, the
    claims stand (failing them would answer Feishu 500 and drop the redelivery as a duplicate: the message lost)."""
    upgrade(database_url)
    store = Store(database_url, Clock())
    real = store._claims_db

    class FinishesFail:
        async def write(self, claims: list, created_at: object, finishes: list) -> Written:
            written = await real.write(claims, created_at, [])
            if finishes:
                written.finishes_error = RuntimeError("connection lost during the UPDATE")
            return written

    try:
        assert await store.claim(["event:a"], owner="me", payload=b"x")
        store._claims_db = FinishesFail()  # type: ignore[assignment]
        finishing = asyncio.create_task(store.finish("event:a", 0))
        claiming = asyncio.create_task(store.claim(["event:b"], owner="me", payload=b"x"))
        assert await claiming
        with pytest.raises(RuntimeError):
            await finishing
    finally:
        store._claims_db = real
        await store.dispose()
