"""Ingress throughput and ack latency: hrbot's /feishu/events vs lark-oapi's EventDispatcherHandler.

Each server runs in its own process; this process generates the load: encrypted, signed message events, 32 at a time.
Scenarios:
  group-not-addressed  group messages that do not @ the bot (the ingress path alone, dedup persisted)
  slow-handler         p2p messages whose handler spends 200 ms awaiting I/O (hrbot only; the ack must not wait)

    python bench/ingress.py [--events 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from Crypto.Cipher import AES

ROOT = Path(__file__).resolve().parent.parent
ENCRYPT_KEY = "bench-encrypt-key"
TOKEN = "bench-verification-token"
SLOW_COMMAND = "慢查询"


# Servers (run as child processes) ---------------------------------------------------------------------------------
def serve_hrbot(port: int, database: str) -> None:
    from bot.app import BotApp
    from bot.config import Settings
    from bot.logs import setup_logging
    from bot.router import MessageContext, Router

    setup_logging("INFO", "text")
    settings = Settings(
        _env_file=None,
        hrbot_port=port,
        hrbot_database_url=f"sqlite:///{database}",
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_verification_token=TOKEN,
    )
    slow = Router("bench")

    @slow.command(SLOW_COMMAND, summary="spends 200 ms awaiting I/O")
    async def wait_on_io(_ctx: MessageContext) -> None:
        await asyncio.sleep(0.2)

    async def main() -> None:
        app = BotApp(settings)
        await app.start()
        app.services.dispatcher.include(slow)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_lark(port: int) -> None:
    import lark_oapi as lark
    from aiohttp import web

    handler = (
        lark.EventDispatcherHandler.builder(ENCRYPT_KEY, TOKEN)
        .register_p2_im_message_receive_v1(lambda _event: None)
        .build()
    )

    async def events(request: web.Request) -> web.Response:
        raw = lark.RawRequest()
        raw.uri = request.path
        raw.body = await request.read()
        raw.headers = dict(request.headers)
        response = handler.do(raw)
        return web.Response(
            status=response.status_code, body=response.content, content_type="application/json"
        )

    app = web.Application()
    app.router.add_post("/feishu/events", events)
    lark.logger.setLevel(40)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# Load generator ---------------------------------------------------------------------------------------------------
def _encrypted(payload: dict) -> bytes:
    plain = json.dumps(payload, ensure_ascii=False).encode()
    pad = 16 - len(plain) % 16
    iv = os.urandom(16)
    cipher = AES.new(hashlib.sha256(ENCRYPT_KEY.encode()).digest(), AES.MODE_CBC, iv)
    return json.dumps(
        {"encrypt": base64.b64encode(iv + cipher.encrypt(plain + bytes([pad]) * pad)).decode()}
    ).encode()


def _signed(body: bytes) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:16]
    signature = hashlib.sha256((timestamp + nonce + ENCRYPT_KEY).encode() + body).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": timestamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
    }


def make_events(count: int, *, text: str, chat_type: str) -> list[tuple[bytes, dict[str, str]]]:
    requests = []
    for _ in range(count):
        envelope = {
            "schema": "2.0",
            "header": {
                "event_id": uuid.uuid4().hex,
                "token": TOKEN,
                "create_time": str(int(time.time() * 1000)),
                "event_type": "im.message.receive_v1",
                "tenant_key": "bench",
                "app_id": "cli_bench",
            },
            "event": {
                "sender": {"sender_id": {"open_id": "ou_bench_user"}, "sender_type": "user"},
                "message": {
                    "message_id": f"om_{uuid.uuid4().hex}",
                    "chat_id": "oc_bench",
                    "chat_type": chat_type,
                    "message_type": "text",
                    "content": json.dumps({"text": text}, ensure_ascii=False),
                    "mentions": [],
                },
            },
        }
        body = _encrypted(envelope)
        requests.append((body, _signed(body)))
    return requests


async def load(url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            body, headers = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - began
    latencies.sort()
    return {
        "events_per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "failures": failures,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(kind: str, port: int, database: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--database", database],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "ready":
            break
    else:
        raise RuntimeError(f"{kind} server did not start")
    time.sleep(0.3)
    return process


def run(events: int, concurrency: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("hrbot", "lark-oapi"):
            port = _free_port()
            server = _start("hrbot" if kind == "hrbot" else "lark", port, str(Path(tmp) / f"{kind}.db"))
            try:
                url = f"http://127.0.0.1:{port}/feishu/events"
                asyncio.run(load(url, make_events(200, text="warm up", chat_type="group"), concurrency))
                rows.append(
                    (
                        kind,
                        "group-not-addressed",
                        asyncio.run(
                            load(url, make_events(events, text="今天开会", chat_type="group"), concurrency)
                        ),
                    )
                )
                if kind == "hrbot":
                    slow = make_events(events, text=SLOW_COMMAND, chat_type="p2p")
                    rows.append((kind, "slow-handler (200 ms)", asyncio.run(load(url, slow, concurrency))))
            finally:
                server.terminate()
                server.wait(timeout=10)

    print(
        f"{events} encrypted, signed events per scenario, {concurrency} concurrent, server in its own process"
    )
    print(f"{'server':<10} {'scenario':<24} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8}")
    for kind, scenario, result in rows:
        print(
            f"{kind:<10} {scenario:<24} {result['events_per_s']:>9.0f} {result['p50_ms']:>8.2f} "
            f"{result['p99_ms']:>8.2f} {result['failures']:>8.0f}"
        )
    ours = next(r for k, s, r in rows if k == "hrbot" and s == "group-not-addressed")
    theirs = next(r for k, s, r in rows if k == "lark-oapi")
    slow = next(r for k, s, r in rows if s.startswith("slow"))
    print(
        f"throughput ratio hrbot / lark-oapi: {ours['events_per_s'] / theirs['events_per_s']:.2f}x (goal >= 2x)"
    )
    print(
        f"hrbot p99 ack: {ours['p99_ms']:.1f} ms (goal <= 20), with a 200 ms handler: {slow['p99_ms']:.1f} ms "
        f"(goal <= 50)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serve", choices=("hrbot", "lark"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    if args.serve == "hrbot":
        serve_hrbot(args.port, args.database)
    elif args.serve == "lark":
        serve_lark(args.port)
    else:
        run(args.events, args.concurrency)
