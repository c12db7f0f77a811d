"""One replica runs the scheduled work: a lease row in the shared database, renewed while alive.

A replica that dies stops renewing; once the lease has expired another takes it: a follower tries again just after
the lease it saw lapses, so scheduled work moves within LEASE_SECONDS (3 s) and a step's own time. Each take-over bumps the lease's generation, and a job starts only while its
replica still holds the generation it gained (fencing): a leader that stalled past its lease and wakes up runs
nothing its successor runs. The jobs themselves are idempotent too (digest slots, keyed pushes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.cancelling import cancel_and_wait
from bot.state.store import Store, aware, metadata

log = logging.getLogger("hrbot.leader")

LEASE_SECONDS = 3.0
RENEW_SECONDS = 1.0
# A follower's try comes this long after the lapse it waits for (clocks of replicas differ a little), never sooner
# than FOLLOWER_MIN_PAUSE after its last try.
LAPSE_MARGIN_SECONDS = 0.05
FOLLOWER_MIN_PAUSE = 0.05

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Bumped whenever the lease changes hands: the fencing token of its holder.
    Column("generation", Integer, nullable=False, server_default="0"),
)


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(
        self,
        store: Store,
        *,
        name: str = "scheduler",
        on_gain: Callable[[], Awaitable[None] | None],
        on_loss: Callable[[], Awaitable[None] | None],
        on_renew: Callable[[], Awaitable[None] | None] | None = None,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = replica_name()
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.on_renew = on_renew
        self.lease = timedelta(seconds=lease_seconds)
        self.renew_seconds = renew_seconds
        self.leading = False
        self.generation: int | None = None
        # When the lease another replica holds lapses, as last seen: a follower tries again just after it.
        self.lapses_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    async def try_acquire(self) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        now = self.store.clock.now()
        expires = now + self.lease
        async with self.store.engine.begin() as conn:
            renewed = await conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=expires)
            )
            if not renewed.rowcount:
                taken = await conn.execute(
                    update(leases)
                    .where(leases.c.name == self.name, leases.c.expires_at < now)
                    .values(holder=self.holder, expires_at=expires, generation=leases.c.generation + 1)
                )
                if not taken.rowcount:
                    held = await conn.execute(select(leases.c.expires_at).where(leases.c.name == self.name))
                    if (lapses_at := held.scalar()) is not None:
                        self.generation = None
                        self.lapses_at = aware(lapses_at)
                        return False
            if renewed.rowcount and self.generation is not None:
                # A renewal keeps the generation this replica gained: only a take-over (a new holder) bumps it.
                return True
            if renewed.rowcount or taken.rowcount:
                self.generation = await self._generation(conn)
                return True
        try:
            async with self.store.engine.begin() as conn:
                await conn.execute(
                    insert(leases).values(
                        name=self.name, holder=self.holder, expires_at=expires, generation=1
                    )
                )
        except IntegrityError:
            return False
        self.generation = 1
        return True

    async def _generation(self, conn: Any) -> int:
        found = await conn.execute(select(leases.c.generation).where(leases.c.name == self.name))
        return int(found.scalar_one())

    async def holds(self) -> bool:
        """Whether this replica still holds the lease, in the generation it gained: checked before each job."""
        if not self.leading or self.generation is None:
            return False
        async with self.store.engine.connect() as conn:
            found = await conn.execute(
                select(leases.c.name).where(
                    leases.c.name == self.name,
                    leases.c.holder == self.holder,
                    leases.c.generation == self.generation,
                )
            )
            return found.first() is not None

    async def release(self) -> None:
        if not self.leading:
            return
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=self.store.clock.now() - self.lease)
            )
        self.leading = False

    async def _step(self) -> None:
        try:
            holding = await self.try_acquire()
        except Exception:
            log.exception("lease check failed")
            holding = False
        try:
            if holding and not self.leading:
                self.leading = True
                log.info("this replica (%s) now runs the scheduled work", self.holder)
                await _maybe_await(self.on_gain())
            elif not holding and self.leading:
                self.leading = False
                log.warning("this replica (%s) lost the scheduler lease", self.holder)
                await _maybe_await(self.on_loss())
            elif holding and self.on_renew is not None:
                await _maybe_await(self.on_renew())
        except Exception:
            # The renewal loop must outlive a failing callback, or the lease lapses while this replica still leads.
            log.exception("scheduler lease callback failed")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await self._step()
            await asyncio.sleep(self._pause(loop.time() - began))

    def _pause(self, step_took: float) -> float:
        """Steps begin every renew_seconds, however long one took (a slow step does not delay the next renewal); a
        follower also tries just after the lease it saw lapses, not up to renew_seconds later."""
        pause = max(0.0, self.renew_seconds - step_took)
        if self.leading or self.lapses_at is None:
            return pause
        until_lapse = (self.lapses_at - self.store.clock.now()).total_seconds() + LAPSE_MARGIN_SECONDS
        return min(pause, max(FOLLOWER_MIN_PAUSE, until_lapse))

    async def start(self) -> None:
        await self._step()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        try:
            await self.release()
        except Exception:
            # The rest of the shutdown goes on (the store and clients still close); the lease lapses by itself.
            self.leading = False
            log.warning(
                "could not hand the scheduler lease back (the database is busy or gone); another replica takes it "
                "within %.0f s",
                self.lease.total_seconds(),
            )


async def _maybe_await(value: Awaitable[None] | None) -> None:
    if value is not None:
        await value
