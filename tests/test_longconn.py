"""The long-connection path: lark-oapi's dispatcher, called from its own thread as the ws client calls it."""

from __future__ import annotations

import asyncio
import json

from bot.ingress.longconn import LongConnection
from bot.sandbox.directory import EMPLOYEE
from cards.text import card_text
from tests import feishu_wire as wire
from tests.conftest import RunningBot


async def test_ws_events_reach_the_same_router(bot: RunningBot) -> None:
    bridge = LongConnection(bot.app.pipeline, bot.app.settings, asyncio.get_running_loop())
    handler = bridge.handler()

    event = wire.message_event("帮助", user=EMPLOYEE, chat_id="oc_p2p_" + EMPLOYEE)
    bot.feishu.record_user_message(
        event["message"]["message_id"], chat_id="oc_p2p_" + EMPLOYEE, sender=EMPLOYEE, text="帮助"
    )
    payload = json.dumps(wire.envelope("im.message.receive_v1", event)).encode()
    # The ws client's frame handler makes exactly this call, in its own thread.
    await asyncio.to_thread(handler._do_without_validation, payload)
    reply = (await bot.replies(event["message"]["message_id"]))[0]
    assert "使用帮助" in card_text(reply.content)

    click = wire.action_event(
        user=EMPLOYEE, value={"action": "gone.action"}, message_id=reply.message_id, chat_id=reply.chat_id
    )
    answer = await asyncio.to_thread(
        handler._do_without_validation, json.dumps(wire.envelope("card.action.trigger", click)).encode()
    )
    import lark_oapi as lark

    assert json.loads(lark.JSON.marshal(answer))["toast"]["type"] == "warning"


async def test_ws_mode_in_sandbox_falls_back_to_the_webhook(tmp_path, clock) -> None:
    from bot.sandbox.compose import SandboxedBot
    from tests.conftest import make_settings

    sandboxed = SandboxedBot(make_settings(tmp_path), mode="ws", clock=clock, employees=20, env_file=None)
    app = await sandboxed.start()
    try:
        assert app.mode == "webhook" and app._longconn is None
    finally:
        await sandboxed.stop()
