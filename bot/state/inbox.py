"""An acknowledged event is never lost: its dedup row records its progress, and a dead replica's events move on.

The bot answers Feishu at once and handles the event in the background, so once Feishu has its 200 nothing will
deliver the event again. The claim therefore writes the event's durable record: `accepted` by this replica, with what
the handler needs sealed (AES-GCM, a key derived from the app's secrets; cleared once done), then `done`. Every
replica keeps a heartbeat row; events accepted by a replica whose heartbeat lapsed (killed, frozen) are taken over by
another, and a process started again in the same place (host and port) resumes its own at once; either way they run
again. Taking over bumps the record's generation,
so only one run can finish it; the calls a re-run repeats are harmless (see bot/routing/event_scope.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Select, String, Table, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cancelling import cancel_and_wait
from bot.state.store import Store, metadata, processed_events
from bot.trust.sealing import Sealing

log = logging.getLogger("hrbot.inbox")

ACCEPTED, DONE = "accepted", "done"
# A replica beats every HEARTBEAT_SECONDS; one silent for REPLICA_TTL_SECONDS is taken for dead and its events move.
HEARTBEAT_SECONDS = 1.0
REPLICA_TTL_SECONDS = 3.0
# Events taken over in one pass; the next pass (a beat later) takes more.
TAKE_OVER_BATCH = 100

replicas = Table(
    "replicas",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Accepted:
    """An event taken over: its dedup key, its kind ("message", "action", "event"), what the handler needs."""

    key: str
    kind: str
    data: dict[str, Any]
    generation: int


class Sealer(Sealing):
    """AES-256-GCM on the payload: the text a person typed (or a form's values) is not readable in the database."""

    def __init__(self, *secrets: str) -> None:
        super().__init__("hrbot-inbox", *secrets)


Resume = Callable[[Accepted], Awaitable[None]]


class Inbox:
    def __init__(self, store: Store, sealer: Sealer, *, home: str) -> None:
        self.store = store
        self.sealer = sealer
        # `home` names where this replica runs (host and port): what a predecessor there accepted and did not finish
        # is this process's own, resumed at start without waiting for the dead one's heartbeat to lapse.
        self.home = home
        self.holder = f"{home}:{os.getpid()}:{secrets.token_hex(3)}"
        self._resume: Resume | None = None
        self._task: asyncio.Task[None] | None = None

    def payload(self, kind: str, data: Any) -> bytes:
        return self.sealer.seal({"kind": kind, "data": data})

    async def start(self, resume: Resume) -> int:
        """Beat, take over what is orphaned now (and what a predecessor in the same place left), keep doing both;
        how many events were resumed at start."""
        self._resume = resume
        first_beat = asyncio.get_running_loop().time()
        await self.beat()
        resumed = await self.take_over(at_start=True)
        log.info("resumed %d event(s) at start", resumed)
        self._task = asyncio.create_task(self._run(first_beat))
        return resumed

    async def beat(self) -> None:
        async with self.store.engine.begin() as conn:
            await self._beat(conn)

    async def _beat(self, conn: AsyncConnection) -> None:
        expires = self.store.clock.now() + timedelta(seconds=REPLICA_TTL_SECONDS)
        renewed = await conn.execute(
            update(replicas).where(replicas.c.name == self.holder).values(expires_at=expires)
        )
        if not renewed.rowcount:
            await conn.execute(insert(replicas).values(name=self.holder, expires_at=expires))

    async def _run(self, last_beat: float) -> None:
        # Beats begin every HEARTBEAT_SECONDS however long one took: a slow database (or a long take-over at start)
        # does not stretch the beat towards REPLICA_TTL_SECONDS, nor the look for a dead replica's events.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.0, last_beat + HEARTBEAT_SECONDS - loop.time()))
            last_beat = loop.time()
            try:
                await self.take_over(beat=True)
            except Exception:
                log.exception("inbox heartbeat or take-over failed")

    async def take_over(self, *, at_start: bool = False, beat: bool = False) -> int:
        """Take the events whose owner is gone (at start also a predecessor's in the same place) and run them.

        With `beat`, this replica's heartbeat is renewed first, in the same transaction: what an idle replica does
        every second costs one round of statements, not two. The beat takes the write lock first (on SQLite, a read
        that turned into a write could fail at once where a write waits its turn)."""
        async with self.store.engine.begin() as conn:
            if beat:
                await self._beat(conn)
            orphans = (await conn.execute(self._orphans(at_start).limit(TAKE_OVER_BATCH))).all()
        taken = 0
        for row in orphans:
            generation = row.generation + 1
            # Fenced: of two replicas taking the same event, one update matches.
            won = await self.store.changed(
                update(processed_events)
                .where(
                    processed_events.c.key == row.key,
                    processed_events.c.state == ACCEPTED,
                    processed_events.c.generation == row.generation,
                )
                .values(owner=self.holder, generation=generation)
            )
            if not won:
                continue
            try:
                content = self.sealer.open(row.payload)
            except (ValueError, KeyError, TypeError):
                # Sealed under other secrets (rotated) or damaged: nothing can run it.
                log.warning("event %s cannot be resumed: its record does not open", row.key)
                await self.done(row.key, generation)
                continue
            taken += 1
            log.info("taking over event %s from %s", row.key, row.owner)
            assert self._resume is not None
            try:
                await self._resume(Accepted(row.key, content["kind"], content["data"], generation))
            except Exception:
                # A record this version cannot read (its shape changed): retrying it would fail the same way.
                log.exception("event %s could not be resumed", row.key)
                await self.done(row.key, generation)
        return taken

    def _orphans(self, at_start: bool) -> Select[Any]:
        """Accepted events whose owner's heartbeat lapsed or went (at start also a predecessor's here)."""
        live = select(replicas.c.name).where(
            replicas.c.expires_at >= self.store.clock.now(), replicas.c.name != self.holder
        )
        owner = processed_events.c.owner
        orphaned = owner.not_in(live)
        if at_start:
            orphaned = or_(orphaned, owner.startswith(f"{self.home}:", autoescape=True))
        return select(
            processed_events.c.key,
            processed_events.c.owner,
            processed_events.c.generation,
            processed_events.c.payload,
        ).where(processed_events.c.state == ACCEPTED, owner != self.holder, orphaned)

    async def done(self, key: str, generation: int) -> bool:
        """Mark the event done unless another run took it over since (then that run finishes it)."""
        return await self.store.finish(key, generation)

    async def stop_taking(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def hand_back(self) -> None:
        """Shutdown: this replica's heartbeat goes, so what it accepted and did not finish moves at once."""
        await self.stop_taking()
        try:
            await self.store.changed(delete(replicas).where(replicas.c.name == self.holder))
        except Exception:
            # The rest of the shutdown goes on; the heartbeat lapses by itself and the events move then.
            log.warning(
                "could not withdraw this replica's heartbeat (the database is busy or gone); what it accepted "
                "and did not finish moves to another replica within %.0f s",
                REPLICA_TTL_SECONDS,
            )
