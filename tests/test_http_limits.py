"""Every listener as a raw-socket attacker sees it: malformed requests cost one rate-limited log line, no response
names a version, a request head's deadline cannot be stretched, and the metrics listener has the same limits."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import urlparse

from bot.clock import Clock
from bot.ingress.limits import HEAD_SECONDS
from tests.conftest import make_settings, running_bot
from tests.test_health_exposure import _free_port

MALFORMED = (
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: bot\r\nBad Header\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: bot\r\n\r\n",
    b"POST /feishu/events HTTP/1.1\r\nHost: bot\r\nContent-Length: -1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
)


async def _exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 5)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def _closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bytes) -> float:
    """Trickle `trickle` a byte a second until the server closes; how long that took."""
    started = time.monotonic()
    for byte in trickle:
        writer.write(bytes([byte]))
        try:
            await writer.drain()
            if await asyncio.wait_for(reader.read(65536), 1.0) == b"":
                break
        except TimeoutError:
            continue
        except ConnectionError:
            break
    writer.close()
    return time.monotonic() - started


def _ports(bot) -> list[int]:
    return [urlparse(bot.app.url).port, urlparse(bot.app.metrics_url).port]


async def test_a_flood_of_malformed_requests_writes_one_line_and_no_version(
    tmp_path: Path, clock: Clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, hrbot_metrics_port=_free_port())
    async with running_bot(settings, clock) as bot:
        for port in _ports(bot):
            answers = await asyncio.gather(
                *(_exchange(port, MALFORMED[n % len(MALFORMED)]) for n in range(300))
            )
            heads = [a.split(b"\r\n\r\n", 1)[0].decode("latin-1") for a in answers if a]
            assert heads and all(h.split(" ")[1].startswith("4") for h in heads)
            servers = {line for h in heads for line in h.split("\r\n") if line.lower().startswith("server:")}
            assert servers == {"Server: hrbot"}
        lines = [r for r in caplog.records if r.name in ("aiohttp.server", "hrbot.http")]
        assert 1 <= len(lines) <= 4  # one per listener, and another if the flood outlasted REJECT_LOG_SECONDS
        assert all(r.levelno == logging.WARNING and r.exc_info is None for r in lines)
        assert "rejected a malformed HTTP request" in lines[0].getMessage()


async def test_a_request_heads_deadline_cannot_be_stretched(tmp_path: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path, hrbot_metrics_port=_free_port())
    async with running_bot(settings, clock) as bot:
        head = b"GET /healthz HTTP/1.1\r\nHost: bot\r\n" + b"X-Slow: " + b"a" * 30

        async def leading_blank_line(port: int) -> float:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\r\n\r\n")  # blank lines aiohttp skips: once taken for the end of a head
            return await _closed_after(reader, writer, head)

        async def second_keep_alive_request(port: int) -> float:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
            assert (await reader.read(65536)).startswith(b"HTTP/1.1 200")
            return await _closed_after(reader, writer, head)

        for port in _ports(bot):
            took = await asyncio.gather(leading_blank_line(port), second_keep_alive_request(port))
            assert all(t < HEAD_SECONDS + 2 for t in took), took
        # An honest keep-alive client is served request after request.
        reader, writer = await asyncio.open_connection("127.0.0.1", _ports(bot)[0])
        for _ in range(3):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
            assert (await reader.read(65536)).startswith(b"HTTP/1.1 200")
        writer.close()
