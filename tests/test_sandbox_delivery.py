"""The sandbox's Feishu pushes an event again, with the same event_id, when the bot fails to answer it, as Feishu
does; when every push fails, `hrbot say` and the console get the reason, not a 500."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from bot.clock import Clock
from bot.ingress.crypto import decrypt
from bot.sandbox.directory import EMPLOYEE, Directory
from bot.sandbox.feishu import EVENT_DELIVERY_ATTEMPTS, EventNotDelivered
from bot.sandbox.server import Sandbox
from tests import feishu_wire as wire
from tests.processes import free_port


async def test_an_event_the_bot_failed_is_pushed_again_with_the_same_id() -> None:
    seen: list[str] = []

    async def flaky_bot(request: web.Request) -> web.Response:
        envelope = json.loads(decrypt((await request.json())["encrypt"], wire.ENCRYPT_KEY))
        seen.append(envelope["header"]["event_id"])
        return web.json_response({}, status=503 if len(seen) == 1 else 200)

    app = web.Application()
    app.router.add_post("/feishu/events", flaky_bot)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sandbox = Sandbox(Clock(), employees=5)
    try:
        sandbox.deliver_to(
            f"http://127.0.0.1:{port}/feishu/events",
            encrypt_key=wire.ENCRYPT_KEY,
            verification_token=wire.TOKEN,
        )
        await sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE))
        assert len(seen) == 2 and seen[0] == seen[1]
    finally:
        await runner.cleanup()


async def test_an_event_nobody_answers_says_why() -> None:
    sandbox = Sandbox(Clock(), employees=5)
    sandbox.deliver_to(
        f"http://127.0.0.1:{free_port()}/feishu/events",
        encrypt_key=wire.ENCRYPT_KEY,
        verification_token=wire.TOKEN,
    )
    with pytest.raises(EventNotDelivered, match="did not answer"):
        await sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE))
    assert EVENT_DELIVERY_ATTEMPTS > 1
