"""`hrbot serve --mode ws` as real processes: the CLI in the sandbox, SIGTERM with events in flight, two replicas."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from aiohttp import web

from bot.clock import Clock
from bot.sandbox.directory import EMPLOYEE, Directory
from bot.sandbox.longconn import LongConnHub
from bot.sandbox.server import Sandbox
from cards.text import card_text
from tests.conftest import PG_ADMIN_URL, eventually, wait_for
from tests.processes import bot_env, free_port, start_bot, stop

P2P = Directory.p2p_chat_of(EMPLOYEE)


def _open(hub: LongConnHub, count: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return len(hub.healthy()) == count

    return probe


def test_serve_ws_in_the_sandbox_answers_say_over_the_long_connection(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
    }
    env.update({"HRBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "HRBOT_PORT": str(port)})
    hrbot = [sys.executable, "-m", "bot.lifecycle.cli"]
    server = subprocess.Popen(
        [*hrbot, "serve", "--mode", "ws"], env=env, cwd=tmp_path, stderr=subprocess.PIPE
    )
    try:
        deadline, health = time.monotonic() + 60, {}
        while time.monotonic() < deadline and health.get("longconn", {}).get("status") != "connected":
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert health["ingress"] == "ws" and health["longconn"]["status"] == "connected"
        said = subprocess.run(
            [*hrbot, "say", "帮助"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert said.returncode == 0, said.stderr
        assert "使用帮助" in said.stdout
        # It came down the long connection: the webhook door is not even open.
        assert httpx.post(f"http://127.0.0.1:{port}/feishu/events", content=b"{}").status_code == 404
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0


async def test_sigterm_closes_the_connection_within_5_s_and_finishes_in_flight_events(
    tmp_path: Path, database_url: str
) -> None:
    sandbox = Sandbox(Clock(), employees=20)
    # Replies wait at the gate: the events are acknowledged and their handlers in flight when SIGTERM comes.
    gate, waiting = asyncio.Event(), []
    reply = sandbox.feishu._reply

    async def gated_reply(request: web.Request) -> web.Response:
        waiting.append(request)
        await gate.wait()
        return await reply(request)

    sandbox.feishu._reply = gated_reply  # type: ignore[method-assign]
    await sandbox.start("127.0.0.1", 0)
    sandbox.deliver_over_longconn()
    hub = sandbox.longconn
    bot = await start_bot(bot_env(sandbox, free_port(), database_url), tmp_path, mode="ws")
    try:
        await eventually(_open(hub, 1), 30, what="the bot connected")
        connection = hub.connections[0]
        asked = [
            (await sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=P2P)).message_id for _ in range(5)
        ]
        await wait_for(lambda: waiting, 5, within=10)
        assert hub.pending == 0  # every frame answered: the work goes on in the bot
        signalled = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(connection.closed.wait(), 5)
        assert connection.closed_at is not None and connection.closed_at - signalled < 5
        assert connection.close_code == 1000
        gate.set()
        assert await asyncio.wait_for(bot.wait(), 20) == 0
        assert [len(sandbox.feishu.replies_to(m)) for m in asked] == [1] * 5
    finally:
        gate.set()
        await stop(bot)
        await sandbox.stop()


async def test_two_replicas_connected_answer_each_event_once(tmp_path: Path, database_url: str) -> None:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    sandbox.deliver_over_longconn()
    hub = sandbox.longconn
    envs = [bot_env(sandbox, free_port(), database_url) for _ in range(2)]
    replicas = []
    try:
        if PG_ADMIN_URL:
            replicas = list(await asyncio.gather(*(start_bot(e, tmp_path, mode="ws") for e in envs)))
        else:  # SQLite: one after the other (Alembic has no cross-process lock there)
            for env in envs:
                replicas.append(await start_bot(env, tmp_path, mode="ws"))
        await eventually(_open(hub, 2), 30, what="both replicas connected")
        # Each event goes to one replica; every other one is also pushed to the other replica, as a redelivery.
        hub.duplicate_next(5)
        asked = await asyncio.gather(
            *(sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=P2P) for _ in range(10))
        )

        async def settled() -> bool:
            return hub.pending == 0 and all(sandbox.feishu.replies_to(m.message_id) for m in asked)

        await eventually(settled, 20, what="every event answered")
        assert all(c.frames_sent for c in hub.connections), "both replicas got events"
        # 10 events and 5 duplicates, plus one frame per re-push: on a busy machine an answer can outlast the hub's
        # 3 s, and Feishu pushes again then too (each still gets one reply, below).
        assert hub.frames_sent == 15 + hub.redeliveries
        for replica in replicas:
            replica.send_signal(signal.SIGTERM)
        for replica in replicas:
            assert await asyncio.wait_for(replica.wait(), 20) == 0
        # Both stopped and drained: no late second reply anywhere.
        assert [len(sandbox.feishu.replies_to(m.message_id)) for m in asked] == [1] * 10
        assert "使用帮助" in card_text(sandbox.feishu.replies_to(asked[0].message_id)[0].content)
    finally:
        for replica in replicas:
            await stop(replica)
        await sandbox.stop()
