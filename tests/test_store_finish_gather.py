"""Finishes are written with the next claims, or on their own once FINISH_GATHER_SECONDS have passed; a store that
is closed writes the ones still waiting."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.clock import Clock
from bot.state.store import FINISH_GATHER_SECONDS, Store, Written, processed_events
from tests.conftest import open_store


class CountedWrites:
    def __init__(self, store: Store) -> None:
        self.real = store._claims_db
        self.calls: list[tuple[list[str], list[str]]] = []
        store._claims_db = self  # type: ignore[assignment]

    async def write(self, claims: list, created_at: object, finishes: list) -> Written:
        self.calls.append(([row[0] for row in claims], [key for key, _ in finishes]))
        return await self.real.write(claims, created_at, finishes)

    async def aclose(self) -> None:
        await self.real.aclose()


async def _state(store: Store, key: str) -> str | None:
    async with store.engine.connect() as conn:
        return (
            await conn.execute(select(processed_events.c.state).where(processed_events.c.key == key))
        ).scalar_one()


async def test_a_finish_alone_is_written_after_the_gathering_window(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        assert await store.claim(["event:alone"], owner="me", payload=b"x")
        writes = CountedWrites(store)
        started = asyncio.get_running_loop().time()
        assert await store.finish("event:alone", 0)
        assert asyncio.get_running_loop().time() - started >= FINISH_GATHER_SECONDS * 0.9
        assert writes.calls == [([], ["event:alone"])]
        assert await _state(store, "event:alone") == "done"
    finally:
        await store.dispose()


async def test_finishes_ride_with_the_next_claims_in_one_write(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        for key in ("event:one", "event:two"):
            assert await store.claim([key], owner="me", payload=b"x")
        writes = CountedWrites(store)
        finishing = [asyncio.create_task(store.finish(key, 0)) for key in ("event:one", "event:two")]
        await asyncio.sleep(0)  # both waiting for claims
        assert await store.claim(["event:three", "message:three"], owner="me", payload=b"x")
        assert all(await asyncio.gather(*finishing))
        assert writes.calls == [(["event:three", "message:three"], ["event:one", "event:two"])]
        assert await _state(store, "event:one") == "done"
        assert await _state(store, "event:three") == "accepted"
    finally:
        await store.dispose()


async def test_closing_the_store_writes_the_finishes_still_gathering(database_url: str) -> None:
    store = await open_store(database_url)
    assert await store.claim(["event:last"], owner="me", payload=b"x")
    finishing = asyncio.create_task(store.finish("event:last", 0))
    await asyncio.sleep(0)
    await store.dispose()
    assert await asyncio.wait_for(finishing, 5)  # written, not dropped with the connection
    reopened = Store(database_url, Clock())
    try:
        assert await _state(reopened, "event:last") == "done"
    finally:
        await reopened.dispose()


async def test_a_finish_after_closing_is_refused_and_writes_nothing(database_url: str) -> None:
    """A task whose cancellation was lost can finish after the store closed: its event stays accepted (a take-over
    runs it again) and no connection is opened after the shutdown."""
    store = await open_store(database_url)
    assert await store.claim(["event:late"], owner="me", payload=b"x")
    writes = CountedWrites(store)
    await store.dispose()
    assert await store.finish("event:late", 0) is False
    await asyncio.sleep(FINISH_GATHER_SECONDS * 3)
    assert writes.calls == []
    reopened = Store(database_url, Clock())
    try:
        assert await _state(reopened, "event:late") == "accepted"
    finally:
        await reopened.dispose()


async def test_closing_waits_a_bounded_time_for_a_write_that_hangs(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.state.store.DISPOSE_WRITE_SECONDS", 0.2)
    store = await open_store(database_url)
    hang = asyncio.Event()

    async def hanging_write(claims: list, created_at: object, finishes: list) -> Written:
        await hang.wait()
        raise AssertionError("not reached")

    real = store._claims_db
    monkeypatch.setattr(real, "write", hanging_write)
    claiming = asyncio.create_task(store.claim(["event:stuck"]))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(store.dispose(), 5)  # the database stopped answering: the shutdown goes on
    claiming.cancel()
