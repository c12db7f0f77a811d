"""The events route taken before aiohttp's application keeps what the application gave it: the size cap, the
Server header, 405 for other methods, `Expect: 100-continue`, and the answer to a real event."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningBot


async def test_an_oversized_body_is_refused_with_413(bot: RunningBot) -> None:
    response = await bot.post_raw(b'{"encrypt": "' + b"A" * (1024 * 1024 + 1) + b'"}')
    assert response.status_code == 413
    assert response.headers["Server"] == "hrbot"


async def test_other_methods_on_the_events_path_get_405(bot: RunningBot) -> None:
    response = await bot.http.get(bot.events_url)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


async def test_expect_100_continue_is_answered_then_the_event_is(bot: RunningBot) -> None:
    host, port = bot.app.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b"{not json"
    writer.write(
        b"POST /feishu/events HTTP/1.1\r\nHost: bot\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 100")
    assert await reader.readline() == b"\r\n"
    writer.write(body)
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 400")
    writer.close()


async def test_a_message_through_the_direct_route_is_answered(bot: RunningBot) -> None:
    text = await bot.reply_text(await bot.say("帮助"))
    assert "企业社保" in text
