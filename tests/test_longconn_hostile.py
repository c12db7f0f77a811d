"""The long connection against hostile frames (a proxy or a bug between Feishu and the bot): nothing ends the
connection task, memory stays bounded, a failure is logged and leads to a reconnect, health shows a dead task at
once, and an unreadable event is answered as the webhook answers it."""

from __future__ import annotations

import json
import logging
import resource
from pathlib import Path
from typing import Any

import httpx

from bot.clock import Clock
from bot.ingress.longconn import MAX_PARTIAL, MAX_PARTS
from bot.sandbox.longconn import CONTROL, DATA, Connection, frame_class
from cards.text import card_text
from tests.conftest import RunningBot, eventually
from tests.test_longconn import all_answered, connected, hub_of, say, ws_bot


def _frame(connection: Connection, method: int, headers: dict[str, str], payload: bytes) -> bytes:
    frame = frame_class()()
    frame.SeqID, frame.LogID, frame.service, frame.method = 1, 1, connection.service_id, method
    for key, value in headers.items():
        frame.headers.add(key=key, value=value)
    frame.payload = payload
    return frame.SerializeToString()


async def _still_answers(bot: RunningBot) -> None:
    hub = hub_of(bot)
    asked = await say(bot, "帮助")
    assert "使用帮助" in card_text((await bot.replies(asked, within=15))[0].content)
    await all_answered(hub, bot)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_hostile_frames_neither_end_the_task_nor_grow_memory(
    tmp_path: Path, clock: Clock, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="hrbot.longconn")
    async with ws_bot(tmp_path, clock) as bot:
        hub = hub_of(bot)
        longconn = bot.app.longconn
        assert longconn is not None
        connection = hub.connections[0]
        socket = connection.socket
        peak_before = _rss_mb()
        # A pong whose ClientConfig is 200,000 nested brackets.
        await socket.send_bytes(_frame(connection, CONTROL, {"type": "pong"}, b"[" * 200_000))
        # Data frames announcing 2^40, 10^12 and (three times) 20,000,000 parts.
        for parts in (2**40, 10**12, 20_000_000, 20_000_000, 20_000_000):
            headers = {"type": "event", "message_id": f"m{parts}", "sum": str(parts), "seq": "0"}
            await socket.send_bytes(_frame(connection, DATA, headers, b"x"))
        # Many events' first parts that never complete, then one large part too many.
        for n in range(MAX_PARTIAL + 20):
            headers = {"type": "event", "message_id": f"partial-{n}", "sum": str(MAX_PARTS), "seq": "0"}
            await socket.send_bytes(_frame(connection, DATA, headers, b"y" * 1000))
        await _still_answers(bot)
        assert longconn.running and longconn.state().status == "connected"
        assert connection in hub.connections, "the bot kept its connection"
        assert len(longconn._parts) <= MAX_PARTIAL
        assert _rss_mb() - peak_before < 50
        lines = [r.getMessage() for r in caplog.records]
        assert any("ignored an unreadable pong" in m for m in lines)
        assert any(f"announcing part 0 of {2**40}" in m for m in lines)
        assert any("events already wait for theirs" in m for m in lines)


async def test_a_nested_event_is_answered_400_as_the_webhook_answers_it(tmp_path: Path, clock: Clock) -> None:
    async with ws_bot(tmp_path, clock) as bot:
        hub = hub_of(bot)
        connection = hub.connections[0]
        answers: dict[str, int] = {}
        receive = hub._on_frame

        async def recording(conn: Connection, data: bytes) -> None:
            frame = frame_class()()
            frame.ParseFromString(data)
            headers = {h.key: h.value for h in frame.headers}
            if frame.method == DATA:
                answers[headers.get("message_id", "")] = json.loads(frame.payload)["code"]
            await receive(conn, data)

        hub._on_frame = recording  # type: ignore[method-assign]
        nested = b"[" * 100_000 + b"]" * 100_000
        await connection.socket.send_bytes(
            _frame(connection, DATA, {"type": "event", "message_id": "deep"}, nested)
        )

        async def answered() -> bool:
            return "deep" in answers

        await eventually(answered, 10, what="an answer to the nested payload")
        assert answers["deep"] == 400
        await _still_answers(bot)


async def test_a_failure_in_the_task_is_logged_and_reconnects(tmp_path: Path, clock: Clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger="hrbot.longconn")
    async with ws_bot(tmp_path, clock) as bot:
        longconn = bot.app.longconn
        assert longconn is not None
        handle = longconn._on_frame
        failures: list[int] = []

        def failing_once(socket: Any, data: bytes) -> None:
            if not failures:
                failures.append(1)
                raise RuntimeError("a bug nobody foresaw")
            handle(socket, data)

        longconn._on_frame = failing_once  # type: ignore[method-assign]
        await _still_answers(bot)
        assert longconn.state().reconnects == 1
        lines = [r.getMessage() for r in caplog.records]
        assert "long connection: the connection task failed; reconnecting" in lines


async def test_health_shows_a_dead_task_at_once_and_the_task_comes_back(tmp_path: Path, clock: Clock) -> None:
    async with ws_bot(tmp_path, clock) as bot:
        longconn = bot.app.longconn
        assert longconn is not None and longconn._task is not None
        details = bot.app.url + "/healthz"
        assert (await bot.http.get(details)).status_code == 200
        longconn._task.cancel()

        async def down() -> httpx.Response | None:
            response = await bot.http.get(details)
            return response if response.status_code == 503 else None

        # At once: well within one watchdog interval (two pings).
        answer = await eventually(down, 1.0, what="/healthz 503")
        assert answer.json()["status"] == "down"
        await connected(bot.app)
        assert (await bot.http.get(details)).status_code == 200
        await _still_answers(bot)


async def test_the_webhook_answers_the_same_nested_payload_400(bot: RunningBot) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    answer = await bot.post_raw(nested)
    assert answer.status_code == 400 and answer.json() == {"error": "malformed body"}
