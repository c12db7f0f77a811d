"""Kill -9 the bot while 20 micro-enterprise jobs are pending and while it pushes results: after a restart every
result is pushed exactly once. The bot runs as a real process in live mode against emulators owned by the test."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import create_engine, func, select

from bot.sandbox.directory import EMPLOYEE, Directory
from bot.state.store import sync_url
from cards.text import card_text
from handlers.micro_ent.state import micro_ent_watchers
from tests.conftest import eventually, wait_for
from tests.processes import bot_env, free_port, sandbox_for, start_bot, stop

COMPANIES = ["成都成电光信科技股份有限公司"] + [f"测试小微企业{i:02d}有限公司" for i in range(1, 20)]


async def test_sigkill_mid_flight_pushes_each_result_exactly_once(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    sandbox = await sandbox_for(port)
    env = bot_env(sandbox, port, database_url)
    feishu = sandbox.feishu
    chat = Directory.p2p_chat_of(EMPLOYEE)

    def notices() -> list:
        return [
            m
            for m in feishu.bot_messages(chat)
            if m.reply_to is None and "小微企业查询" in card_text(m.content)
        ]

    bot = await start_bot(env, tmp_path)
    try:
        asked = [
            await feishu.user_says(f"小微企业 {name}", user=EMPLOYEE, chat_id=chat) for name in COMPANIES
        ]
        cards = await wait_for(
            lambda: [m for a in asked for m in feishu.replies_to(a.message_id)], 20, within=30
        )
        assert all("查询中" in card_text(c.content) for c in cards)
        # Each card's id is stored just after it is sent: kill only once all are (a kill in between loses that
        # card's id, and its result then arrives as the notice alone).
        await eventually(lambda: cards_recorded(database_url, 20), within=10, what="every card's id stored")

        bot.send_signal(signal.SIGKILL)  # hard stop with all 20 jobs pending
        await bot.wait()
        sandbox.juhe.complete_all()

        bot = await start_bot(env, tmp_path)
        await wait_for(notices, 3, within=30)
        bot.send_signal(signal.SIGKILL)  # hard stop again, this time in the middle of pushing
        await bot.wait()

        bot = await start_bot(env, tmp_path)
        await wait_for(notices, 20, within=60)
        await asyncio.sleep(3)  # a few more poll rounds: nothing may be pushed twice
        assert len(notices()) == 20
        assert sandbox.juhe.billed_calls["/enterprise/App/MicroEnt/query"] == 20
        finished = [card_text(c.content) for c in cards]
        odd = [text for text in finished if "已完成" not in text and "查询失败" not in text]
        assert sum("已完成" in text for text in finished) == 1, finished
        assert sum("查询失败" in text for text in finished) == 19, odd
    finally:
        await stop(bot)
        await sandbox.stop()


async def cards_recorded(database_url: str, count: int) -> bool:
    def count_rows() -> int:
        engine = create_engine(sync_url(database_url))
        try:
            with engine.connect() as connection:
                query = select(func.count()).where(micro_ent_watchers.c.message_id.is_not(None))
                return int(connection.execute(query).scalar() or 0)
        finally:
            engine.dispose()

    return await asyncio.to_thread(count_rows) >= count
