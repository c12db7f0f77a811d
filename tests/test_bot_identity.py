"""Feishu's bot info failing at start-up: group messages wait for it, the bot keeps asking, and says so once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp import web

from bot.clock import Clock
from bot.feishu import identity as bot_identity
from bot.lifecycle.app import BotApp
from bot.sandbox.directory import HR, HR_GROUP
from bot.sandbox.server import Sandbox
from cards.text import card_text
from tests import feishu_wire as wire
from tests.conftest import eventually, make_settings, wait_for


async def test_group_messages_are_answered_once_bot_info_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_identity, "FIRST_RETRY_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="hrbot.identity")
    upstream = Sandbox(Clock(), employees=10)
    feishu = upstream.feishu
    answer_bot_info = feishu._bot_info
    outage = {"on": True, "refused": 0}

    async def bot_info(request: web.Request) -> web.Response:
        if outage["on"]:
            outage["refused"] += 1
            return web.json_response({"code": 1, "msg": "internal error"}, status=503)
        return await answer_bot_info(request)

    monkeypatch.setattr(feishu, "_bot_info", bot_info)
    await upstream.start("127.0.0.1", 0)
    settings = make_settings(
        tmp_path,
        **upstream.feishu_settings(),
        feishu_encrypt_key=wire.ENCRYPT_KEY,
        feishu_verification_token=wire.TOKEN,
    )
    app = BotApp(settings, env_file=None, overrides=upstream.provider_settings())
    try:
        await app.start()  # Feishu failing is no reason not to start
        upstream.deliver_to(
            f"{app.url}/feishu/events", encrypt_key=wire.ENCRYPT_KEY, verification_token=wire.TOKEN
        )
        assert app.identity is not None and app.pipeline is not None
        ready, why = app.identity.readiness()
        assert not ready and "internal error" in why

        async def retried() -> bool:
            return outage["refused"] >= 3

        await eventually(retried, what="bot info asked again in the background")
        unanswered = await feishu.user_says("@hrbot 帮助", user=HR, chat_id=HR_GROUP)

        async def idle() -> bool:
            return app.pipeline is not None and app.pipeline.in_flight == 0

        await eventually(idle, what="no event in flight")
        assert feishu.replies_to(unanswered.message_id) == []

        outage["on"] = False

        async def ready_now() -> bool:
            return app.identity is not None and app.identity.readiness() == (True, "")

        await eventually(ready_now, what="bot info fetched")
        answered = await feishu.user_says("@hrbot 帮助", user=HR, chat_id=HR_GROUP)
        replies = await wait_for(lambda: feishu.replies_to(answered.message_id))
        assert "使用帮助" in card_text(replies[0].content)
    finally:
        await app.stop()
        await upstream.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "hrbot.identity"]
    assert len([line for line in said if "could not fetch the bot's info" in line]) == 1, said
    assert any("group messages are answered again" in line for line in said), said
