"""Outbound sends: 1,000 cards, 16 concurrent, to the Feishu emulator in its own process.

hrbot's pooled FeishuClient vs lark-oapi's `im.v1.message.acreate`, side by side.

    python bench/outbound.py [--sends 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.client import FeishuClient
from bot.sandbox.directory import HR_GROUP
from cards.common import card, fields, markdown

ROOT = Path(__file__).resolve().parent.parent
# Sandbox people to send to: one per send, for both clients (up to 9,999 sends each).
PEOPLE = 20_000

CARD = card(
    "企业社保缴纳 · 小米科技有限责任公司", "blue", [markdown("2019 年报"), fields([("参保人数", "168人")])]
)


def serve_emulator(port: int) -> None:
    from aiohttp import web

    from bot.sandbox.directory import Directory
    from bot.sandbox.feishu import FeishuEmulator

    # A person per send: Feishu takes 5 messages a second to one chat (230020 beyond it), not a thousand.
    emulator = FeishuEmulator(Clock(), SANDBOX_APP_ID, SANDBOX_APP_SECRET, Directory(employees=PEOPLE))
    print("ready", flush=True)
    web.run_app(emulator.app(), host="127.0.0.1", port=port, print=None, access_log=None)


async def run_ours(base_url: str, sends: int, concurrency: int) -> float:
    client = FeishuClient(
        base_url=base_url, app_id=SANDBOX_APP_ID, app_secret=SANDBOX_APP_SECRET, clock=Clock()
    )
    slots = asyncio.Semaphore(concurrency)

    people = iter(range(1, sends + 1))

    async def one() -> None:
        async with slots:
            await client.send_card(person(next(people)), CARD, id_type="open_id")

    await client.send_card(HR_GROUP, CARD)  # token and connection warm
    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(sends)))
    elapsed = time.perf_counter() - began
    await client.aclose()
    return sends / elapsed


async def run_lark(base_url: str, sends: int, concurrency: int) -> float:
    import lark_oapi as lark
    from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody

    lark.logger.setLevel(40)
    client = (
        lark.Client.builder().app_id(SANDBOX_APP_ID).app_secret(SANDBOX_APP_SECRET).domain(base_url).build()
    )
    content = json.dumps(CARD, ensure_ascii=False)
    slots = asyncio.Semaphore(concurrency)

    people = iter(range(sends + 1, 2 * sends + 2))

    def request() -> CreateMessageRequest:
        body = (
            CreateMessageRequestBody.builder()
            .receive_id(person(next(people)))
            .msg_type("interactive")
            .content(content)
            .build()
        )
        return CreateMessageRequest.builder().receive_id_type("open_id").request_body(body).build()

    async def one() -> None:
        async with slots:
            response = await client.im.v1.message.acreate(request())
            if not response.success():
                raise RuntimeError(f"lark send failed: {response.code} {response.msg}")

    await one()
    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(sends)))
    return sends / (time.perf_counter() - began)


def person(number: int) -> str:
    return f"ou_emp_{number:05d}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(sends: int, concurrency: int) -> None:
    port = _free_port()
    emulator = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdout is not None
    emulator.stdout.readline()
    time.sleep(0.3)
    try:
        base_url = f"http://127.0.0.1:{port}"
        ours = asyncio.run(run_ours(base_url, sends, concurrency))
        theirs = asyncio.run(run_lark(base_url, sends, concurrency))
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    print(f"{sends} card sends, {concurrency} concurrent, Feishu emulator in its own process")
    print(f"hrbot FeishuClient (pooled aiohttp): {ours:8.0f} sends/s")
    print(f"lark-oapi im.v1.message.acreate:     {theirs:8.0f} sends/s")
    print(f"ratio: {ours / theirs:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.serve:
        serve_emulator(args.port)
    else:
        main(args.sends, args.concurrency)
