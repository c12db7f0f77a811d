"""What an idle replica does every second stays cheap, and still keeps its promises: a plain lease renewal is one
statement and keeps fencing, the heartbeat and the look for a dead replica's events share one transaction and still
find them, a renewal wakes the scheduler only for a job another replica added (which then runs on time), and the
个人社保 poll job exists only while a flow is in progress, coming back whenever one starts or a new leader takes over."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.engine import Engine

from bot.sandbox.directory import EMPLOYEE, Directory
from bot.state.inbox import Accepted, Inbox, Sealer, replicas
from bot.state.leader import Lease, leases
from bot.state.migrations import upgrade
from bot.state.scheduler import Scheduler
from handlers.personal_social.router import POLL_JOB, POLL_SECONDS, _fresh_flow, poll_flows
from handlers.personal_social.state import Flows
from tests.conftest import RunningBot, eventually, make_settings, open_store

HOUR = timedelta(hours=1)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements (and COMMITs) run on `engine` inside the block."""
    seen: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split()[0].upper())

    def committed(_conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", executed)
    event.listen(engine, "commit", committed)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", executed)
        event.remove(engine, "commit", committed)


async def test_a_plain_renewal_is_one_statement_and_a_take_over_still_fences(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        first, second = (Lease(store, on_gain=lambda: None, on_loss=lambda: None) for _ in range(2))
        await first._step()
        gained = first.generation
        with statements(store.engine.sync_engine) as seen:
            await first._step()
        assert seen == ["UPDATE", "COMMIT"]
        assert first.leading and first.generation == gained and await first.holds()
        # Stalled past its lease: the next holder is one generation on, and the old one's renewal fails.
        await store.changed(update(leases).values(expires_at=store.clock.now() - HOUR))
        await second._step()
        assert second.generation == gained + 1 and not await first.holds()
        await first._step()
        assert not first.leading and first.generation is None
    finally:
        await store.dispose()


async def test_a_follower_takes_a_dead_holders_lease_just_after_it_lapses(database_url: str) -> None:
    """Not at its next regular try: with tries 30 s apart, the lease still moves about a second after the kill."""
    store = await open_store(database_url)
    dead = Lease(store, on_gain=lambda: None, on_loss=lambda: None, lease_seconds=1.0)
    follower = Lease(store, on_gain=lambda: None, on_loss=lambda: None, lease_seconds=1.0, renew_seconds=30)
    try:
        await dead._step()  # gains the lease, then never renews it: killed
        await follower.start()
        assert not follower.leading
        loop = asyncio.get_running_loop()
        killed_at = loop.time()

        async def leads() -> bool:
            return follower.leading

        await eventually(leads, within=10, what="the follower leads")
        assert loop.time() - killed_at < 5, "it waited for its next regular try"
        assert follower.generation == dead.generation + 1
    finally:
        await follower.stop()
        await store.dispose()


async def test_heartbeats_begin_every_second_however_long_one_takes(database_url: str) -> None:
    """A beat that takes 0.9 s (a busy database) does not push the next one to 1.9 s: at 3 s without a beat the
    replica would be taken for dead."""
    store = await open_store(database_url)
    inbox = Inbox(store, Sealer("s", "k"), home="a")
    loop = asyncio.get_running_loop()
    began: list[float] = []

    async def slow_beat(**_: Any) -> int:
        began.append(loop.time())
        await asyncio.sleep(0.9)
        return 0

    inbox.take_over = slow_beat  # type: ignore[method-assign]
    try:
        await inbox.start(_ignore)

        async def four_beats() -> bool:
            return len(began) >= 4

        await eventually(four_beats, within=20, what="four beats")
        gaps = [later - earlier for earlier, later in itertools.pairwise(began)]
        assert max(gaps) < 1.6, gaps
    finally:
        await inbox.stop_taking()
        await store.dispose()


async def _ignore(_accepted: Accepted) -> None:
    return None


async def test_the_heartbeat_and_the_look_for_orphans_are_one_transaction(database_url: str) -> None:
    store = await open_store(database_url)
    sealer = Sealer("s", "k")
    taken: list[Accepted] = []
    try:
        dead, alive = Inbox(store, sealer, home="a"), Inbox(store, sealer, home="b")
        alive._resume = lambda accepted: _record(taken, accepted)
        await dead.beat()
        await alive.beat()
        assert await store.claim(["event:e1"], owner=dead.holder, payload=dead.payload("event", {"n": 1}))
        with statements(store.engine.sync_engine) as seen:
            assert await alive.take_over(beat=True) == 0
        assert seen == ["UPDATE", "SELECT", "COMMIT"]
        # Killed: its heartbeat lapses, and the next beat of the living one takes its event.
        await store.changed(
            update(replicas).where(replicas.c.name == dead.holder).values(expires_at=store.clock.now() - HOUR)
        )
        assert await alive.take_over(beat=True) == 1
        assert taken == [Accepted("event:e1", "event", {"n": 1}, 1)]
    finally:
        await store.dispose()


async def _record(taken: list[Accepted], accepted: Accepted) -> None:
    taken.append(accepted)


async def test_a_job_another_replica_adds_runs_within_two_seconds_and_a_renewal_wakes_nothing_else(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    ran: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()

    async def run(job_id: str, *_args: Any) -> None:
        ran.append((job_id, loop.time()))

    upgrade(settings.hrbot_database_url)
    leader, other = Scheduler(settings, run), Scheduler(settings, run)
    try:
        leader.start()
        other.start()  # paused, as on every replica that does not hold the lease
        leader.every("hourly", timedelta(hours=1))
        leader.resume()
        await eventually(lambda: _planned(leader), what="the leader planned its next look")
        looks: list[int] = []
        process = leader.scheduler._process_jobs
        leader.scheduler._process_jobs = lambda: looks.append(1) or process()  # type: ignore[method-assign]
        leader.wakeup()  # a renewal with nothing new
        await asyncio.sleep(0.05)
        assert looks == []
        # Another replica stores a job due in half a second; the leader knows only its hourly one.
        other.at("soon", datetime.now(UTC) + timedelta(seconds=0.5), key="soon")
        added = loop.time()

        async def renewing() -> None:  # what the lease does every second
            while True:
                await asyncio.sleep(1.0)
                leader.wakeup()

        renewals = asyncio.create_task(renewing())
        try:
            await eventually(_async(lambda: ran), within=5.0, what="the job another replica added ran")
        finally:
            renewals.cancel()
        [(job_id, at)] = ran
        assert job_id == "soon" and at - added < 2.5
    finally:
        leader.shutdown()
        other.shutdown()


async def _planned(scheduler: Scheduler) -> bool:
    return scheduler._store.planned is not None


def _async(probe: Any) -> Any:
    async def probing() -> Any:
        return probe()

    return probing


def _poll_job(bot: RunningBot) -> Any:
    scheduler = bot.app.services.scheduler
    assert scheduler is not None
    return scheduler.scheduler.get_job(POLL_JOB)


async def test_the_poll_job_exists_only_while_a_flow_is_in_progress(bot: RunningBot) -> None:
    services = bot.app.services
    assert _poll_job(bot) is not None  # stored at start: it looks once and goes if nothing is in progress
    await poll_flows(services)
    assert _poll_job(bot) is None
    await _fresh_flow(services, EMPLOYEE, Directory.p2p_chat_of(EMPLOYEE))
    job = _poll_job(bot)
    assert job is not None and job.trigger.interval == timedelta(seconds=POLL_SECONDS)
    await poll_flows(services)
    assert _poll_job(bot) is not None  # polled every 2 s while the flow is in progress
    # The fast-forward of the sandbox's console brings it due at once.
    assert bot.app.services.scheduler is not None and bot.app.services.scheduler.run_pollers_now() >= 1
    await Flows(services.store).forget(EMPLOYEE)
    await poll_flows(services)
    assert _poll_job(bot) is None


async def test_a_flow_started_while_the_poll_job_removes_itself_keeps_it(
    bot: RunningBot, monkeypatch: Any
) -> None:
    services = bot.app.services
    answers = iter([False, True])  # none in progress when it looked; one started on another replica since

    async def any_active(_self: Flows) -> bool:
        return next(answers)

    monkeypatch.setattr(Flows, "any_active", any_active)
    await poll_flows(services)
    assert _poll_job(bot) is not None


async def test_a_new_leader_stores_a_removed_poll_job_again(bot: RunningBot) -> None:
    """The leader that removed the job may die before it looks again; whoever leads next stores it again."""
    await poll_flows(bot.app.services)
    assert _poll_job(bot) is None
    bot.app._lead()
    assert _poll_job(bot) is not None
