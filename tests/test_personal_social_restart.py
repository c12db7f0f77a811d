"""A restart in the middle of the 个人社保 dialog: the flow's state is in the database, so polling resumes and the
card still reaches its result."""

from __future__ import annotations

import signal
from pathlib import Path

from bot.sandbox.directory import EMPLOYEE, Directory
from cards.text import card_text
from tests.conftest import wait_for
from tests.processes import bot_env, free_port, sandbox_for, start_bot, stop
from tests.test_personal_social import value_of


async def test_a_killed_bot_resumes_the_flow_after_restart(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    sandbox = await sandbox_for(port)
    env = bot_env(sandbox, port, database_url)
    feishu = sandbox.feishu
    bot = await start_bot(env, tmp_path)
    try:
        asked = await feishu.user_says(
            "个人社保 北京", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE)
        )
        card = (await wait_for(lambda: feishu.replies_to(asked.message_id), 1, within=15))[0]
        # A newcomer's first 个人社保: the consent notice, then the same card goes on to the login form.
        assert "个人信息使用告知" in card_text(card.content)
        await feishu.user_clicks(
            card.message_id, user=EMPLOYEE, value=value_of(card.content, "button", "同意")
        )
        await wait_for(lambda: [1] if "登录查询" in card_text(card.content) else [], 1, within=15)
        await feishu.user_clicks(
            card.message_id,
            user=EMPLOYEE,
            value=value_of(card.content, "button", "登录查询"),
            form_value={"account": "sms", "password": "pw-restart"},
        )
        await wait_for(lambda: [1] if "短信验证码" in card_text(card.content) else [], 1, within=20)

        bot.send_signal(signal.SIGKILL)
        await bot.wait()
        bot = await start_bot(env, tmp_path)

        await feishu.user_clicks(
            card.message_id,
            user=EMPLOYEE,
            value=value_of(card.content, "button", "提交验证码"),
            form_value={"code": "123456"},
        )
        await wait_for(lambda: [1] if "查询完成" in card_text(card.content) else [], 1, within=30)
        assert sandbox.tcredit.created_tasks == 1
    finally:
        await stop(bot)
        await sandbox.stop()
