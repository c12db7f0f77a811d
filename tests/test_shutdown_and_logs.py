"""SIGTERM stops a replica cleanly and hands the scheduler over at once; JSON log lines carry the event fields."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import Clock
from bot.lifecycle import app as app_module
from bot.lifecycle.features import Feature, discover
from bot.lifecycle.services import Services
from bot.observability.logs import JsonFormatter
from bot.routing.context import MessageContext
from bot.routing.router import Router
from bot.sandbox.directory import EMPLOYEE, Directory
from bot.sandbox.server import Sandbox
from tests import feishu_wire as wire
from tests.conftest import RunningBot, eventually, make_settings, running_bot, wait_for
from tests.processes import bot_env, free_port, start_bot, stop
from tests.test_replicas import a_leader, leader_pid, start_replicas


async def test_sigterm_exits_cleanly_and_releases_the_scheduler(tmp_path: Path, database_url: str) -> None:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    replicas, _envs = await start_replicas(sandbox, database_url, tmp_path)
    try:
        # The lease is taken just after a replica listens: wait for it rather than read it at once.
        leader_now = await a_leader(database_url)
        leader = next(r for r in replicas if r.pid == leader_now)
        follower = next(r for r in replicas if r is not leader)
        leader.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(leader.wait(), timeout=20) == 0

        # Released, not left to expire: the other replica takes over at its next renewal (5 s), not after 15 s.
        async def follower_leads() -> bool:
            return leader_pid(database_url) == follower.pid

        await eventually(follower_leads, within=8, what="the follower takes the released lease")
    finally:
        for replica in replicas:
            await stop(replica)
        await sandbox.stop()


async def test_single_replica_sigterm_with_json_logs(tmp_path: Path, database_url: str) -> None:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    env = bot_env(sandbox, free_port(), database_url, HRBOT_LOG_FORMAT="json")
    sandbox.deliver_to(
        f"http://127.0.0.1:{env['HRBOT_PORT']}/feishu/events",
        encrypt_key=wire.ENCRYPT_KEY,
        verification_token=wire.TOKEN,
    )
    log_file = tmp_path / "bot.log"
    bot = await start_bot(env, tmp_path, log_file=log_file)
    try:
        asked = await sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE))
        await wait_for(lambda: sandbox.feishu.replies_to(asked.message_id), 1, within=10)
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), timeout=20) == 0
    finally:
        await stop(bot)
        await sandbox.stop()
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    assert lines and "live mode" in lines[0]["message"]
    event = next(line for line in lines if line.get("event_id"))
    assert event["command"] == "帮助" and event["outcome"] == "ok" and event["latency_ms"] >= 0
    assert event["user"].endswith(EMPLOYEE[-6:]) and EMPLOYEE not in event["user"]


def test_json_log_lines_carry_event_fields_masked() -> None:
    record = logging.LogRecord(
        "hrbot.events", logging.INFO, __file__, 1, "event %s for 110101196912021230", ("e1",), None
    )
    record.event_id, record.user, record.command, record.latency_ms = "e1", "****a1b2c3", "增减员", 3.2
    line = json.loads(JsonFormatter().format(record))
    assert line["event_id"] == "e1" and line["user"] == "****a1b2c3" and line["command"] == "增减员"
    assert line["latency_ms"] == 3.2 and "110***********1230" in line["message"]


def _slow_job_feature(started: asyncio.Event, finish: asyncio.Event, finished: list[str]) -> Feature:
    router = Router("slow_job")

    @router.every(timedelta(hours=1), id="work")
    async def work(services: Services) -> None:
        started.set()
        await finish.wait()
        finished.append("done")

    return Feature(router=router)


def _stubborn_command_feature(started: asyncio.Event, ended: list[str]) -> Feature:
    router = Router("stubborn")

    @router.command("慢命令", summary="a handler whose first cancellation is lost", takes_args=False)
    async def stubborn(ctx: MessageContext) -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await (
                asyncio.Event().wait()
            )  # cancelled here, the cancellation lost (as Python 3.11's wait_for can)
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("ended")

    return Feature(router=router)


async def test_a_handler_cut_short_by_the_shutdown_has_ended_before_the_bot_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled again if its first cancellation was lost: nothing cut short runs on while the inbox hands it back
    and the store closes."""
    monkeypatch.setattr(app_module, "SHUTDOWN_GRACE_SECONDS", 0.2)
    started, ended = asyncio.Event(), []
    features = [*discover(), _stubborn_command_feature(started, ended)]
    async with running_bot(make_settings(tmp_path), Clock(), features=features) as bot:
        await bot.say("慢命令")
        await asyncio.wait_for(started.wait(), 10)
    assert ended == ["ended"]


async def _run_now(bot: RunningBot) -> None:
    scheduler = bot.app.services.scheduler
    scheduler.scheduler.get_job("slow_job.work").modify(next_run_time=datetime.now(UTC))
    scheduler.wakeup()


async def test_a_scheduled_job_running_at_stop_finishes_before_the_store_closes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    started, finish, finished = asyncio.Event(), asyncio.Event(), []
    features = [*discover(), _slow_job_feature(started, finish, finished)]
    async with running_bot(make_settings(tmp_path), Clock(), features=features) as bot:
        await _run_now(bot)
        await asyncio.wait_for(started.wait(), 10)
        asyncio.get_running_loop().call_later(0.2, finish.set)
    assert finished == ["done"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_scheduled_job_past_its_grace_is_cut_short_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "JOB_GRACE_SECONDS", 0.2)
    started, never, finished = asyncio.Event(), asyncio.Event(), []
    features = [*discover(), _slow_job_feature(started, never, finished)]
    with caplog.at_level(logging.INFO, logger="hrbot"):
        async with running_bot(make_settings(tmp_path), Clock(), features=features) as bot:
            await _run_now(bot)
            await asyncio.wait_for(started.wait(), 10)
    assert finished == []
    assert "scheduled job slow_job.work was cut short by the shutdown" in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
