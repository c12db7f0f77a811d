"""The long connection through the real protocol: the sandbox's endpoint and protobuf frames, the bot's client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.lifecycle.app import BotApp
from bot.routing.context import ActionContext
from bot.routing.router import ActionResponse, Router
from bot.sandbox.compose import SandboxedBot
from bot.sandbox.directory import EMPLOYEE, Directory
from bot.sandbox.longconn import ANSWER_SECONDS, MAX_CONNECTIONS, Connection, LongConnHub
from bot.sandbox.server import Sandbox
from cards.common import card, markdown
from cards.text import card_text
from tests.conftest import RunningBot, eventually, make_settings

P2P = Directory.p2p_chat_of(EMPLOYEE)


@contextlib.asynccontextmanager
async def ws_bot(tmp_path: Path, clock: Clock, **settings: Any) -> AsyncIterator[RunningBot]:
    """A sandbox bot started like `hrbot serve --mode ws`, once its long connection is up."""
    composed = SandboxedBot(
        make_settings(tmp_path, **settings), mode="ws", clock=clock, employees=200, env_file=None
    )
    try:
        app = await composed.start()
        async with httpx.AsyncClient(timeout=10.0) as http:
            await connected(app)
            yield RunningBot(app, composed.sandbox, http)
    finally:
        await composed.stop()


def hub_of(bot: RunningBot) -> LongConnHub:
    return bot.sandbox.longconn


async def connected(app: BotApp, within: float = 15.0) -> None:
    async def up() -> bool:
        return app.longconn is not None and app.longconn.state().status == "connected"

    await eventually(up, within, what="long connection up")


async def reconnecting(app: BotApp) -> None:
    async def down() -> bool:
        return app.longconn is not None and app.longconn.state().status == "reconnecting"

    await eventually(down, 10, what="reconnecting")


async def say(bot: RunningBot, text: str, user: str = EMPLOYEE) -> str:
    return (await bot.feishu.user_says(text, user=user, chat_id=Directory.p2p_chat_of(user))).message_id


async def all_answered(hub: LongConnHub, bot: RunningBot, within: float = 15.0) -> None:
    """Nothing left to push and nothing in flight: the replies seen now are all there will be."""

    async def settled() -> bool:
        return hub.pending == 0 and bot.app.pipeline is not None and bot.app.pipeline.in_flight == 0

    await eventually(settled, within, what="every event answered")


async def test_help_and_a_card_action_over_the_long_connection(tmp_path: Path, clock: Clock) -> None:
    async with ws_bot(tmp_path, clock) as bot:
        hub = hub_of(bot)
        # No webhook door in long-connection mode.
        assert (await bot.http.post(bot.events_url, content=b"{}")).status_code == 404

        asked = await say(bot, "帮助")
        help_reply = (await bot.replies(asked))[0]
        assert "使用帮助" in card_text(help_reply.content)
        assert hub.frames_sent == 1

        router = Router("test")

        @router.action("quick")
        async def quick(ctx: ActionContext) -> ActionResponse:
            return ActionResponse.toast("已完成", "success", card=card("完成", "green", [markdown("换新")]))

        assert bot.app.services is not None
        bot.app.dispatcher.include(router)
        started = time.monotonic()
        answer = await bot.feishu.user_clicks(
            help_reply.message_id, user=EMPLOYEE, value={"action": "test.quick"}
        )
        assert time.monotonic() - started < ANSWER_SECONDS
        assert answer["status"] == 200 and answer["toast"] == {"type": "success", "content": "已完成"}
        assert "换新" in card_text(bot.feishu.messages[help_reply.message_id].content)
        assert hub.frames_sent == 2
        # The next card callback comes as a type=card frame (Feishu sends both kinds): answered alike.
        again = await bot.feishu.user_clicks(
            help_reply.message_id, user=EMPLOYEE, value={"action": "test.quick"}
        )
        assert again["status"] == 200 and again["toast"] == {"type": "success", "content": "已完成"}
        assert hub.card_frames_sent == {"event": 1, "card": 1}

        health = (await bot.http.get(f"{bot.app.url}/healthz")).json()
        assert health["ingress"] == "ws" and health["longconn"]["status"] == "connected"
        assert health["longconn"]["connected_since"] and health["longconn"]["last_frame_at"]
        console = (await bot.http.get(f"{bot.app.url}/console/api/ingress")).json()
        assert console["mode"] == "ws" and console["longconn"]["status"] == "connected"
        assert console["sandbox"]["connections"] == 1


async def test_fragmented_and_duplicated_events_get_one_reply(tmp_path: Path, clock: Clock) -> None:
    async with ws_bot(tmp_path, clock) as bot:
        hub = hub_of(bot)
        hub.fragment_size = 50  # an event envelope is several hundred bytes: many parts
        hub.duplicate_next(1)
        asked = await say(bot, "帮助")
        assert "使用帮助" in card_text((await bot.replies(asked))[0].content)
        await all_answered(hub, bot)
        assert hub.frames_sent == 2 and len(bot.feishu.replies_to(asked)) == 1


async def test_dropped_with_20_events_in_flight_each_gets_exactly_one_reply(
    tmp_path: Path, clock: Clock
) -> None:
    async with ws_bot(tmp_path, clock) as bot:
        hub = hub_of(bot)
        first = hub.connections[0]
        # The cut comes right after the 20th frame is written: that one at least cannot have been answered.
        hub.drop(after_frames=20)
        asked = await asyncio.gather(*(say(bot, "帮助") for _ in range(20)))
        assert first.closed.is_set() and first.close_code != 1000
        await all_answered(hub, bot)
        assert [len(bot.feishu.replies_to(m)) for m in asked] == [1] * 20
        assert hub.redeliveries >= 1
        assert bot.app.longconn is not None and bot.app.longconn.state().reconnects == 1


async def test_a_silent_server_is_left_within_two_ping_intervals(
    tmp_path: Path, clock: Clock, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="hrbot.longconn")
    async with ws_bot(tmp_path, clock) as bot:
        hub = hub_of(bot)
        silent = hub.connections[0]
        hub.go_silent()
        went_silent = time.monotonic()
        # Said while the server is silent: held by Feishu, pushed once the bot is back.
        asked = await asyncio.gather(*(say(bot, "帮助") for _ in range(3)))

        async def back() -> bool:
            return bool(hub.healthy())

        await eventually(back, 10, what="a new connection")
        config = hub.config
        bound = 2 * config.ping_interval + config.reconnect_nonce + 0.5  # + scheduling slack
        assert time.monotonic() - went_silent < bound
        await eventually(_closed(silent), 5, what="the silent connection closed")
        assert silent.close_code == 1000  # closed by the bot's watchdog, not by the server
        await all_answered(hub, bot)
        assert [len(bot.feishu.replies_to(m)) for m in asked] == [1, 1, 1]
        # One line for the change of state, naming the watchdog; one when connected again.
        lines = [r.getMessage() for r in caplog.records]
        assert [m for m in lines if "reconnecting" in m] == [
            next(m for m in lines if "reconnecting (watchdog: no frame and no pong" in m)
        ]
        assert lines.count("long connection: connected") == 2


async def test_refused_reconnects_back_off_and_log_each_state_once(
    tmp_path: Path, clock: Clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG, logger="hrbot.longconn")
    async with ws_bot(tmp_path, clock) as bot:
        hub = hub_of(bot)
        hub.refuse_for(2.5)
        hub.drop()
        assert bot.app.longconn is not None
        await reconnecting(bot.app)
        await connected(bot.app)
        state = bot.app.longconn.state()
        assert state.reconnects == 1 and "system busy" in state.last_error
        attempts = [
            r for r in caplog.records if r.levelno == logging.DEBUG and "still reconnecting" in r.getMessage()
        ]
        assert attempts, "several refused attempts"
        changes = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
        assert sum("reconnecting" in m for m in changes) == 1
        assert (
            sum(m == "long connection: connected" for m in changes) == 2
        )  # first connection and the reconnect
        asked = await say(bot, "帮助")
        assert "使用帮助" in card_text((await bot.replies(asked))[0].content)


async def test_the_endpoint_refuses_bad_credentials_and_the_51st_connection() -> None:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    endpoint = f"{sandbox.url}/feishu/callback/ws/endpoint"
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    try:
        async with aiohttp.ClientSession() as session:
            bad = await (
                await session.post(endpoint, json={"AppID": SANDBOX_APP_ID, "AppSecret": "x"})
            ).json()
            assert bad["code"] != 0
            good = {"AppID": SANDBOX_APP_ID, "AppSecret": SANDBOX_APP_SECRET}
            for _ in range(MAX_CONNECTIONS):
                url = (await (await session.post(endpoint, json=good)).json())["data"]["URL"]
                sockets.append(await session.ws_connect(url))
            url = (await (await session.post(endpoint, json=good)).json())["data"]["URL"]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url)
            assert refused.value.headers is not None
            assert refused.value.headers["handshake-autherrcode"] == "1000040350"
            # Below the limit again, a used ticket still opens nothing; a fresh one does.
            await sockets.pop().close()
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await session.ws_connect(url)
            url = (await (await session.post(endpoint, json=good)).json())["data"]["URL"]
            sockets.append(await session.ws_connect(url))
            for socket in sockets:
                await socket.close()
    finally:
        await sandbox.stop()


async def test_lark_oapi_own_client_works_against_the_emulator() -> None:
    """The emulator speaks the protocol as lark-oapi's reference client expects it, fragments included."""
    import lark_oapi as lark
    import lark_oapi.ws.client as ws_client

    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    sandbox.deliver_over_longconn()
    sandbox.longconn.fragment_size = 100
    seen: list[str] = []

    def on_message(data: Any) -> None:
        seen.append(json.loads(lark.JSON.marshal(data))["event"]["message"]["content"])

    handler = (
        lark.EventDispatcherHandler.builder("", "").register_p2_im_message_receive_v1(on_message).build()
    )
    ws_loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(ws_loop)
        ws_client.loop = ws_loop  # its module-level loop (oapi-sdk-python issues #96, #133)
        client = lark.ws.Client(
            SANDBOX_APP_ID,
            SANDBOX_APP_SECRET,
            event_handler=handler,
            domain=sandbox.feishu_url,  # an origin, as lark-oapi demands
            log_level=lark.LogLevel.ERROR,
        )
        with contextlib.suppress(RuntimeError):  # "Event loop stopped before Future completed."
            client.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        await eventually(_has_connection(sandbox.longconn), 15, what="lark's client connected")
        status, _answer = await sandbox.feishu.deliver(
            "im.message.receive_v1",
            {
                "sender": {"sender_id": {"open_id": EMPLOYEE}, "sender_type": "user"},
                "message": {
                    "message_id": "om_lark",
                    "chat_id": P2P,
                    "chat_type": "p2p",
                    "message_type": "text",
                    "content": json.dumps({"text": "帮助" * 40}, ensure_ascii=False),
                },
            },
        )
        assert status == 200 and seen and "帮助" in seen[0]
        assert await eventually(_pinged(sandbox.longconn), 5, what="lark's ping answered")
    finally:
        ws_loop.call_soon_threadsafe(ws_loop.stop)
        thread.join(5)
        await sandbox.stop()


def _has_connection(hub: LongConnHub) -> Any:
    async def probe() -> bool:
        return bool(hub.connections)

    return probe


def _closed(connection: Connection) -> Any:
    async def probe() -> bool:
        return connection.closed.is_set()

    return probe


def _pinged(hub: LongConnHub) -> Any:
    async def probe() -> bool:
        return any(c.pings for c in hub.connections)

    return probe


async def test_the_outage_is_reported_for_readiness(tmp_path: Path, clock: Clock) -> None:
    async with ws_bot(tmp_path, clock, hrbot_ws_unready_after_seconds=0.5) as bot:
        hub, longconn = hub_of(bot), bot.app.longconn
        assert longconn is not None and longconn.ready()
        hub.refuse_for(60)
        hub.drop()

        async def not_ready() -> bool:
            assert longconn is not None
            return not longconn.ready()

        await eventually(not_ready, 10, what="not ready after half a second down")
        state = longconn.state()
        assert state.status == "reconnecting" and state.down_since and state.connected_since is None
        assert state.ready(max_down_seconds=3600)
        health = (await bot.http.get(f"{bot.app.url}/healthz")).json()
        assert health["longconn"]["status"] == "reconnecting" and health["longconn"]["down_seconds"] > 0.5
