"""The webhook's prebuilt 200 answer is what aiohttp's was on the wire: status, JSON type and length, Date, the
version-less Server header, the connection kept alive; HTTP/1.0 and `Connection: close` get aiohttp's own answer."""

from __future__ import annotations

import asyncio
from email.utils import parsedate_to_datetime

from tests import feishu_wire as wire
from tests.conftest import RunningBot


def _group_message() -> bytes:
    """A group message not for the bot: answered `{}` and nothing else."""
    event = wire.message_event("hello", user="ou_answer_test", chat_id="oc_answer_test", chat_type="group")
    return wire.encrypt_body(wire.envelope("im.message.receive_v1", event))


def _request(body: bytes, *, version: str = "1.1", extra: str = "") -> bytes:
    headers = "".join(f"{name}: {value}\r\n" for name, value in wire.sign(body).items())
    return (
        f"POST /feishu/events HTTP/{version}\r\nHost: bot\r\n{headers}{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    status = (await reader.readline()).decode().rstrip()
    headers = {}
    while (line := (await reader.readline()).decode().rstrip()) != "":
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


async def test_two_events_on_one_kept_alive_connection_get_whole_answers(bot: RunningBot) -> None:
    host, port = bot.app.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    for _ in range(2):
        writer.write(_request(_group_message()))
        await writer.drain()
        status, headers, body = await _answer(reader)
        assert status == "HTTP/1.1 200 OK"
        assert body == b"{}"
        assert headers["content-type"] == "application/json"
        assert headers["server"] == "hrbot"
        assert parsedate_to_datetime(headers["date"]).tzinfo is not None
        assert "connection" not in headers
    writer.close()


async def test_http_1_0_and_connection_close_are_answered_and_closed(bot: RunningBot) -> None:
    host, port = bot.app.url.removeprefix("http://").split(":")
    for version, extra in (("1.0", ""), ("1.1", "Connection: close\r\n")):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(_request(_group_message(), version=version, extra=extra))
        await writer.drain()
        status, headers, body = await _answer(reader)
        assert status.startswith(f"HTTP/{version} 200")
        assert body == b"{}"
        assert headers["server"] == "hrbot"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed after the answer
        writer.close()
