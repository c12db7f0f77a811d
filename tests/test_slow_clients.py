"""Issue 13 item 5: 1,000 connections that send half a request are all closed within 30 s, and others are served."""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.ingress.limits import HEAD_SECONDS
from tests.conftest import make_settings, running_bot
from tests.processes import free_port
from tests.test_hardening import CLEAN_ENV

SLOW_CLIENTS = 1000


@pytest.fixture
def enough_file_descriptors() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * SLOW_CLIENTS + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-files limit ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def _half_request(port: int, number: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if number % 2:
        # The head never ends.
        writer.write(b"POST /feishu/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n")
    else:
        # The head ends, the body never comes.
        writer.write(b"POST /feishu/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 4096\r\n\r\n{")
    await writer.drain()
    return reader, writer


async def _closed(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(4096):
            pass
    except ConnectionError:
        pass


async def test_half_sent_requests_are_cut_off_while_others_are_served(
    tmp_path: Path, enough_file_descriptors: None
) -> None:
    port = free_port()
    env = {**CLEAN_ENV, "HRBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'slow.db'}", "HRBOT_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.lifecycle.cli",
        "serve",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            started = time.monotonic()
            clients = await asyncio.gather(*(_half_request(port, n) for n in range(SLOW_CLIENTS)))
            closing = asyncio.gather(*(_closed(reader) for reader, _writer in clients))

            # Others are served throughout: a health check and a readiness check every 100 ms until all are cut off.
            served = 0
            while not closing.done():
                response = await http.get(f"http://127.0.0.1:{port}/readyz")
                assert response.status_code == 200
                served += 1
                await asyncio.wait({closing}, timeout=0.1)
                assert time.monotonic() - started < 30, "slow clients still connected after 30 s"
            elapsed = time.monotonic() - started
            for _reader, writer in clients:
                writer.close()
        print(
            f"{SLOW_CLIENTS} half-sent requests closed in {elapsed:.1f} s; {served} requests served meanwhile"
        )
        assert served >= 10
    finally:
        process.terminate()
        await process.wait()


async def test_connections_beyond_the_cap_are_closed_on_accept(tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, hrbot_max_connections=5)) as bot:
        port = int(bot.app.url.rsplit(":", 1)[1])
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(_closed(reader), 2)  # refused at once, not after a timeout
        writer.close()
        assert bot.app.connections is not None and bot.app.connections.refused == 1
        # The idle ones say nothing and are cut off after the head deadline; then there is room again.
        await asyncio.wait_for(asyncio.gather(*(_closed(r) for r, _w in idle)), HEAD_SECONDS + 3)
        for _r, w in idle:
            w.close()
        assert (await bot.http.get(f"{bot.app.url}/healthz")).status_code == 200
