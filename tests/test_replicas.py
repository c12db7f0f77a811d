"""Two bot processes on one database (and Redis, in CI's second run): one reply per event, one digest per slot, and
when the replica running the scheduler is killed the other takes over without pushing anything twice."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import sqlalchemy

from bot.clock import Clock
from bot.sandbox.directory import EMPLOYEE, HR_GROUP, Directory
from bot.sandbox.server import Sandbox
from bot.state.store import sync_url
from cards.text import card_text
from tests import feishu_wire as wire
from tests.conftest import PG_ADMIN_URL, eventually, wait_for
from tests.processes import bot_env, free_port, start_bot, stop


async def start_replicas(
    sandbox: Sandbox, database_url: str, cwd: Path, **extra: str
) -> tuple[list[asyncio.subprocess.Process], list[dict[str, str]]]:
    envs = [bot_env(sandbox, free_port(), database_url, **extra) for _ in range(2)]
    if not PG_ADMIN_URL:
        # SQLite: one after the other (Alembic has no cross-process lock there).
        started = []
        for env in envs:
            started.append(await start_bot(env, cwd))
        return started, envs
    # PostgreSQL: start together, as a deployment does; migrations take turns under an advisory lock.
    results = await asyncio.gather(*(start_bot(env, cwd) for env in envs), return_exceptions=True)
    started = [r for r in results if isinstance(r, asyncio.subprocess.Process)]
    if len(started) < len(envs):
        for process in started:
            await stop(process)
        raise next(r for r in results if isinstance(r, BaseException))
    return started, envs


def leader_pid(database_url: str) -> int | None:
    """The pid of the replica holding the scheduler lease; None until one has taken it (after it listens)."""
    engine = sqlalchemy.create_engine(sync_url(database_url))
    with engine.connect() as connection:
        holder = connection.execute(
            sqlalchemy.text("SELECT holder FROM leases WHERE name = 'scheduler'")
        ).scalar_one_or_none()
    engine.dispose()
    return int(holder.split(":")[1]) if holder else None


async def a_leader(database_url: str) -> int:
    async def taken() -> int | None:
        return leader_pid(database_url)

    return await eventually(taken, within=20, what="a replica holds the scheduler lease")


async def test_the_same_event_delivered_to_both_replicas_gets_one_reply(
    tmp_path: Path, database_url: str
) -> None:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    replicas, envs = await start_replicas(sandbox, database_url, tmp_path)
    try:
        event = wire.message_event("帮助", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE))
        message_id = event["message"]["message_id"]
        sandbox.feishu.record_user_message(
            message_id, chat_id=Directory.p2p_chat_of(EMPLOYEE), sender=EMPLOYEE, text="帮助"
        )
        body = wire.encrypt_body(wire.envelope("im.message.receive_v1", event))
        async with httpx.AsyncClient() as client:
            urls = [f"http://127.0.0.1:{env['HRBOT_PORT']}/feishu/events" for env in envs]
            answers = await asyncio.gather(
                *(client.post(u, content=body, headers=wire.sign(body)) for u in urls * 2)
            )
        assert all(answer.status_code == 200 for answer in answers)
        await wait_for(lambda: sandbox.feishu.replies_to(message_id), 1, within=10)
        await asyncio.sleep(1.0)
        assert len(sandbox.feishu.replies_to(message_id)) == 1
    finally:
        for replica in replicas:
            await stop(replica)
        await sandbox.stop()


async def test_a_digest_slot_posts_one_digest(tmp_path: Path, database_url: str) -> None:
    sandbox = Sandbox(Clock(), employees=50)
    await sandbox.start("127.0.0.1", 0)
    # No random delay: the test waits for the minute's slot, not up to five minutes more.
    extra = {
        "HRBOT_DIGEST_CRON": "* * * * *",
        "HRBOT_DIGEST_CHAT_IDS": HR_GROUP,
        "HRBOT_DIGEST_MAX_DELAY_SECONDS": "0",
    }
    replicas, _envs = await start_replicas(sandbox, database_url, tmp_path, **extra)
    try:

        def digests() -> list:
            return [
                m for m in sandbox.feishu.bot_messages(HR_GROUP) if "社保增减员摘要" in card_text(m.content)
            ]

        await wait_for(digests, 1, within=75)
        await asyncio.sleep(3)
        assert len(digests()) == 1
    finally:
        for replica in replicas:
            await stop(replica)
        await sandbox.stop()


async def test_killing_the_scheduler_replica_hands_over_and_pushes_once(
    tmp_path: Path, database_url: str
) -> None:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    # One person asks 50 times: more than the default daily quota of billed calls.
    replicas, envs = await start_replicas(sandbox, database_url, tmp_path, HRBOT_QUOTA_USER_DAILY="off")
    chat = Directory.p2p_chat_of(EMPLOYEE)
    try:
        leader = await a_leader(database_url)
        follower_env = next(env for env, r in zip(envs, replicas, strict=True) if r.pid != leader)
        sandbox.deliver_to(
            f"http://127.0.0.1:{follower_env['HRBOT_PORT']}/feishu/events",
            encrypt_key=wire.ENCRYPT_KEY,
            verification_token=wire.TOKEN,
        )
        names = ["成都成电光信科技股份有限公司"] + [f"复制测试小微企业{i:02d}有限公司" for i in range(1, 50)]
        asked = [
            await sandbox.feishu.user_says(f"小微企业 {name}", user=EMPLOYEE, chat_id=chat) for name in names
        ]
        await wait_for(
            lambda: [m for a in asked for m in sandbox.feishu.replies_to(a.message_id)], 50, within=60
        )

        leader = await a_leader(database_url)
        os.kill(leader, signal.SIGKILL)
        sandbox.juhe.complete_all()

        def notices() -> list:
            return [
                m
                for m in sandbox.feishu.bot_messages(chat)
                if m.reply_to is None and "小微企业查询" in card_text(m.content)
            ]

        await wait_for(notices, 50, within=60)
        await asyncio.sleep(3)
        assert len(notices()) == 50
        assert leader_pid(database_url) != leader
    finally:
        for replica in replicas:
            await stop(replica)
        await sandbox.stop()


async def test_a_sigkill_moves_scheduled_work_and_the_dead_replicas_events_within_five_seconds(
    tmp_path: Path, database_url: str
) -> None:
    """Fail-over measured: from the SIGKILL of the replica leading the scheduler (and holding an accepted event whose
    reply is in flight) to the other replica running the scheduler, and to that event's one reply."""
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    replicas, envs = await start_replicas(sandbox, database_url, tmp_path)
    chat = Directory.p2p_chat_of(EMPLOYEE)
    try:
        leader = await a_leader(database_url)
        leader_env, follower_env = sorted(envs, key=lambda env: env is not _env_of(leader, replicas, envs))
        sandbox.deliver_to(
            f"http://127.0.0.1:{leader_env['HRBOT_PORT']}/feishu/events",
            encrypt_key=wire.ENCRYPT_KEY,
            verification_token=wire.TOKEN,
        )
        held = sandbox.holds.hold("/reply")
        asked = await sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=chat)
        await asyncio.wait_for(held.reached.wait(), 20)
        loop = asyncio.get_running_loop()
        os.kill(leader, signal.SIGKILL)
        killed_at = loop.time()
        held.release()
        follower_ready = f"http://127.0.0.1:{follower_env['HRBOT_PORT']}/readyz"
        moved: dict[str, float] = {}
        async with httpx.AsyncClient() as client:

            async def both_moved() -> bool:
                if (
                    "scheduler" not in moved
                    and (await client.get(follower_ready)).json()["scheduler"] == "leader"
                ):
                    moved["scheduler"] = loop.time() - killed_at
                if "event" not in moved and sandbox.feishu.replies_to(asked.message_id):
                    moved["event"] = loop.time() - killed_at
                return len(moved) == 2

            await eventually(both_moved, within=15, what="the scheduler and the event move")
        print(
            f"fail-over after SIGKILL: scheduler {moved['scheduler']:.2f} s, orphaned event {moved['event']:.2f} s"
        )
        assert moved["scheduler"] <= 5.0 and moved["event"] <= 5.0, moved
        assert len(sandbox.feishu.replies_to(asked.message_id)) == 1
    finally:
        sandbox.holds.release_all()
        for replica in replicas:
            await stop(replica)
        await sandbox.stop()


def _env_of(
    pid: int, replicas: list[asyncio.subprocess.Process], envs: list[dict[str, str]]
) -> dict[str, str]:
    return next(env for env, replica in zip(envs, replicas, strict=True) if replica.pid == pid)
