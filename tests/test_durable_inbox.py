"""An acknowledged event is never lost: the bot process is killed (SIGKILL) at each point between accepting an event
and finishing it, started again on the same database, and the asker gets exactly one reply; a billed call made
before the kill is not made again. The restarted process resumes its own events at start, on SQLite and on
PostgreSQL (CI's second run, with Redis)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import sqlalchemy

from bot.sandbox.directory import EMPLOYEE, Directory
from bot.sandbox.juhe import SOCIAL_SECURITY_PATH
from bot.state.store import sync_url
from cards.text import card_text
from tests.conftest import eventually, wait_for
from tests.processes import bot_env, free_port, sandbox_for, start_bot, stop

XIAOMI = "小米科技有限责任公司"
REPLY_PATH = "/reply"


def unfinished(database_url: str) -> int:
    """Events accepted and not yet done."""
    engine = sqlalchemy.create_engine(sync_url(database_url))
    with engine.connect() as connection:
        count = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM processed_events WHERE state = 'accepted'")
        ).scalar_one()
    engine.dispose()
    return int(count)


@pytest.mark.parametrize(
    ("point", "path", "after", "billed", "title"),
    [
        # The provider call is in flight: its ledger row says pending, so the re-run does not call again.
        ("after the claim", SOCIAL_SECURITY_PATH, False, 0, "查询中断"),
        # The provider answered (billed, cached); the reply had not gone out.
        ("after the provider call", REPLY_PATH, False, 1, f"企业社保缴纳 · {XIAOMI}"),
        # The reply landed; the bot was killed before it heard so (and before the event was marked done).
        ("after the reply", REPLY_PATH, True, 1, f"企业社保缴纳 · {XIAOMI}"),
    ],
)
async def test_a_kill_at_any_point_leaves_exactly_one_reply(
    tmp_path: Path, database_url: str, point: str, path: str, after: bool, billed: int, title: str
) -> None:
    port = free_port()
    sandbox = await sandbox_for(port)
    env = bot_env(sandbox, port, database_url)
    log_file = tmp_path / "restart.log"
    bot = await start_bot(env, tmp_path)
    chat = Directory.p2p_chat_of(EMPLOYEE)
    try:
        held = sandbox.holds.hold(path, after=after)
        asked = await sandbox.feishu.user_says(f"企业社保 {XIAOMI}", user=EMPLOYEE, chat_id=chat)
        await asyncio.wait_for(held.reached.wait(), 30)
        bot.send_signal(signal.SIGKILL)
        await bot.wait()
        held.release()

        bot = await start_bot(env, tmp_path, log_file=log_file)
        await wait_for(lambda: sandbox.feishu.replies_to(asked.message_id), 1, within=30)

        async def finished() -> bool:
            return unfinished(database_url) == 0

        await eventually(finished, within=30, what="the event is marked done")
        replies = sandbox.feishu.replies_to(asked.message_id)
        assert len(replies) == 1, point
        assert replies[0].content["header"]["title"]["content"] == title
        assert sandbox.juhe.billed_calls[SOCIAL_SECURITY_PATH] == billed
        if point == "after the claim":
            assert "没有再次发起" in card_text(replies[0].content)
        # Started again in the same place (host and port), the process resumes its own events at once.
        assert "resumed 1 event(s) at start" in log_file.read_text()
    finally:
        sandbox.holds.release_all()
        await stop(bot)
        await sandbox.stop()


async def test_sigterm_finishes_what_was_accepted_before_it_exits(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    sandbox = await sandbox_for(port)
    env = bot_env(sandbox, port, database_url)
    log_file = tmp_path / "bot.log"
    bot = await start_bot(env, tmp_path, log_file=log_file)
    chat = Directory.p2p_chat_of(EMPLOYEE)
    try:
        held = sandbox.holds.hold(REPLY_PATH, drop=False)  # Feishu is slow to take the reply
        asked = await sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=chat)
        await asyncio.wait_for(held.reached.wait(), 30)
        bot.send_signal(signal.SIGTERM)

        async def draining() -> bool:
            return "event(s) being handled" in log_file.read_text()

        await eventually(draining, within=15, what="the shutdown waits for the event")
        held.release()
        assert await asyncio.wait_for(bot.wait(), 30) == 0
        assert len(sandbox.feishu.replies_to(asked.message_id)) == 1
        assert unfinished(database_url) == 0
    finally:
        sandbox.holds.release_all()
        await stop(bot)
        await sandbox.stop()
