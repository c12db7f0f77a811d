"""Ingress cost and latency: hrbot against three yardsticks in the same run: a bare aiohttp route (the floor), a
stand-in bot that does only what any bot must (verify, decrypt, parse, reply through one pooled client), and a
lark-oapi bot.

Every server runs in its own process, and so does the fake Feishu (the sandbox's emulator) that the bots reply to;
this process generates the load: encrypted, signed `im.message.receive_v1` events, 32 at a time.

The robust figure is each server's own CPU time per event (user + system, all threads, read to the nanosecond by
the server itself), because events/s on a shared machine mostly measures the load generator.

Paths:
  ignored   group messages that do not @ the bot: the ingress alone (every server)
  answered  p2p `帮助`, answered with the help card through the emulator: 32 conversations, each sending its next
            message when the reply to its last one reached the emulator (hrbot, the stand-in and lark-oapi)
  slow      p2p messages whose handler awaits 200 ms of I/O (hrbot only: the ack must not wait for it)

The lark-oapi bot is written the way its docs show: `EventDispatcherHandler` behind an aiohttp route, the reply sent
from a thread pool through lark-oapi's synchronous client.

    python bench/ingress.py [--events 2000] [--concurrency 32] [--rounds 5]
        [--database-url postgresql+psycopg://...] [--redis-url redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from Crypto.Cipher import AES

ROOT = Path(__file__).resolve().parent.parent
ENCRYPT_KEY = "bench-encrypt-key"
TOKEN = "bench-verification-token"
HELP = "帮助"
SLOW_COMMAND = "慢查询"
USER = "ou_bench_user"
# Less CPU than this in 50 ms: the server has finished what the load left it.
IDLE_CPU_SECONDS = 0.0005


def bench_chat(message_id: str) -> str:
    """Each message in a chat of its own: many people asking at once, as Feishu lets a bot send 5 messages a second to
    one chat (230020 beyond it), which one chat of 64 messages would meet."""
    return f"oc_bench_{message_id[3:19]}"


def _answer_cpu_probes() -> None:
    """Each line on stdin is answered on stdout with this process's CPU seconds, all threads, to the nanosecond
    (CLOCK_PROCESS_CPUTIME_ID). /proc/<pid>/stat counts in 10 ms ticks: ±9 % on the floor's ~110 ms per round.
    When stdin closes, the bench has gone (finished, killed, timed out): the server goes too."""

    def answer() -> None:
        for _ in sys.stdin:
            print(f"cpu {time.process_time()}", flush=True)
        os._exit(0)

    threading.Thread(target=answer, daemon=True).start()


async def _serve_forever(*apps: Any, ports: tuple[int, ...] = ()) -> None:
    """Listen with each aiohttp app on a port the system picks, then tell the load generator `ready <ports>`."""
    from aiohttp import web

    listening = list(ports)
    for app in apps:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        listening.append(runner.addresses[0][1])
    print("ready", *listening, flush=True)
    await asyncio.Event().wait()


# Servers (each run as a child process) ------------------------------------------------------------------------
def serve_emulator() -> None:
    """The sandbox's Feishu emulator on one port; on another, what the load generator needs from it: register
    the user messages the bots will reply to, and a stream of reply arrivals (`<replied message_id> <monotonic>`)."""
    from aiohttp import web

    from bot.clock import Clock
    from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
    from bot.sandbox.feishu import FeishuEmulator

    emulator = FeishuEmulator(Clock(), SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    listeners: set[asyncio.Queue[str]] = set()
    store = emulator._store_bot_message

    def store_and_tell(body: Any, content: Any, chat_id: str, *, reply_to: str | None = None) -> Any:
        # Told here rather than through `subscribe()`, whose deep copy of every card would be most of the
        # emulator's CPU per reply.
        stored = store(body, content, chat_id, reply_to=reply_to)
        if reply_to:
            for queue in listeners:
                queue.put_nowait(f"{reply_to} {time.monotonic()}\n")
        return stored

    emulator._store_bot_message = store_and_tell  # type: ignore[method-assign]

    async def register(request: web.Request) -> web.Response:
        for message_id in await request.json():
            emulator.record_user_message(message_id, chat_id=bench_chat(message_id), sender=USER, text=HELP)
        return web.json_response({})

    async def replies(request: web.Request) -> web.StreamResponse:
        queue: asyncio.Queue[str] = asyncio.Queue()
        listeners.add(queue)
        stream = web.StreamResponse()
        await stream.prepare(request)
        try:
            while True:
                await stream.write((await queue.get()).encode())
        except ConnectionError:  # the load generator is done with this run
            return stream
        finally:
            listeners.discard(queue)

    bench = web.Application()
    bench.router.add_post("/bench/messages", register)
    bench.router.add_get("/bench/replies", replies)

    asyncio.run(_serve_forever(emulator.app(), bench))


def serve_hrbot(feishu_url: str, database_url: str, redis_url: str) -> None:
    from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET, Settings
    from bot.lifecycle.app import BotApp
    from bot.observability.logs import setup_logging
    from bot.routing.context import MessageContext
    from bot.routing.router import Router

    setup_logging("INFO", "text")
    settings = Settings(
        _env_file=None,
        hrbot_port=0,
        hrbot_database_url=database_url,
        hrbot_redis_url=redis_url,
        feishu_app_id=SANDBOX_APP_ID,
        feishu_app_secret=SANDBOX_APP_SECRET,
        feishu_base_url=feishu_url,
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_verification_token=TOKEN,
        hrbot_metrics_port=0,  # metrics are still recorded; only the listener, which no one scrapes here, is off
    )
    slow = Router("bench")

    @slow.command(SLOW_COMMAND, summary="spends 200 ms awaiting I/O")
    async def wait_on_io(_ctx: MessageContext) -> None:
        await asyncio.sleep(0.2)

    async def main() -> None:
        app = BotApp(settings, env_file=None)
        await app.start()
        app.dispatcher.include(slow)
        if not app.services.bot_open_id:  # else group messages are not read at all: no measure of the ingress
            raise RuntimeError("hrbot could not fetch its bot info from the emulator")
        await _serve_forever(ports=(int(app.url.rsplit(":", 1)[1]),))

    asyncio.run(main())


def serve_lark(feishu_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import lark_oapi as lark
    from aiohttp import web
    from lark_oapi.api.im.v1 import P2ImMessageReceiveV1, ReplyMessageRequest, ReplyMessageRequestBody

    from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
    from bot.sandbox.directory import BOT_OPEN_ID

    lark.logger.setLevel(40)
    client = (
        lark.Client.builder().app_id(SANDBOX_APP_ID).app_secret(SANDBOX_APP_SECRET).domain(feishu_url).build()
    )
    card = _help_card()
    pool = ThreadPoolExecutor(max_workers=32)

    def reply(message_id: str) -> None:
        body = (
            ReplyMessageRequestBody.builder()
            .msg_type("interactive")
            .content(json.dumps(card, ensure_ascii=False))
            .uuid(str(uuid.uuid4()))
            .build()
        )
        response = client.im.v1.message.reply(
            ReplyMessageRequest.builder().message_id(message_id).request_body(body).build()
        )
        if not response.success():
            print(f"lark reply failed: {response.code} {response.msg}", file=sys.stderr, flush=True)

    def on_message(data: P2ImMessageReceiveV1) -> None:
        message = data.event.message
        mentioned = any(m.id.open_id == BOT_OPEN_ID for m in message.mentions or [])
        if message.chat_type == "p2p" or mentioned:
            pool.submit(reply, message.message_id)

    handler = lark.EventDispatcherHandler.builder(ENCRYPT_KEY, TOKEN).register_p2_im_message_receive_v1(
        on_message
    )
    handler = handler.build()

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
    asyncio.run(_serve_forever(app))


def serve_standin(feishu_url: str) -> None:
    """The least a bot can do per event: verify, decrypt, parse, and reply to a message for it through one pooled
    aiohttp client (no dedup, router, logging or metrics). hrbot's answered path is measured against it."""
    import aiohttp
    import orjson
    from aiohttp import web

    from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
    from bot.sandbox.directory import BOT_OPEN_ID

    key = hashlib.sha256(ENCRYPT_KEY.encode()).digest()
    content = json.dumps(_help_card(), ensure_ascii=False)
    state: dict[str, Any] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def reply(message_id: str) -> None:
        body = {"msg_type": "interactive", "content": content, "uuid": uuid.uuid4().hex}
        url = f"{feishu_url}/open-apis/im/v1/messages/{message_id}/reply"
        async with state["session"].post(url, json=body, headers=state["auth"]) as answer:
            await answer.read()

    async def events(request: web.Request) -> web.Response:
        raw = await request.read()
        headers = request.headers
        signed = (
            headers["X-Lark-Request-Timestamp"] + headers["X-Lark-Request-Nonce"] + ENCRYPT_KEY
        ).encode()
        if hashlib.sha256(signed + raw).hexdigest() != headers["X-Lark-Signature"]:
            return web.Response(status=401)
        data = base64.b64decode(orjson.loads(raw)["encrypt"])
        plain = AES.new(key, AES.MODE_CBC, data[:16]).decrypt(data[16:])
        envelope = orjson.loads(plain[: -plain[-1]])
        message = envelope["event"]["message"]
        mentioned = any(m["id"]["open_id"] == BOT_OPEN_ID for m in message.get("mentions") or ())
        if message["chat_type"] == "p2p" or mentioned:
            task = asyncio.create_task(reply(message["message_id"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return web.json_response({})

    async def main() -> None:
        session = state["session"] = aiohttp.ClientSession()
        token_url = f"{feishu_url}/open-apis/auth/v3/tenant_access_token/internal"
        async with session.post(
            token_url, json={"app_id": SANDBOX_APP_ID, "app_secret": SANDBOX_APP_SECRET}
        ) as got:
            state["auth"] = {"Authorization": f"Bearer {(await got.json())['tenant_access_token']}"}
        app = web.Application()
        app.router.add_post("/feishu/events", events)
        await _serve_forever(app)

    asyncio.run(main())


def serve_floor() -> None:
    """The least an aiohttp server can do per event: read the body, answer `{}`."""
    from aiohttp import web

    async def events(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/feishu/events", events)
    asyncio.run(_serve_forever(app))


def _help_card() -> dict:
    """The card hrbot answers 帮助 with, so both bots send the same bytes."""
    from bot.lifecycle import maintenance
    from bot.lifecycle.features import build_dispatcher, discover
    from cards.help import CommandLine, help_card

    commands = build_dispatcher(discover(), maintenance.router).commands
    return help_card([CommandLine(c.name, c.aliases, c.summary, c.example) for c in commands])


# Load generator ---------------------------------------------------------------------------------------------------
@dataclass
class Event:
    message_id: str
    body: bytes
    headers: dict[str, str]


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


def make_events(count: int, *, text: str, chat_type: str) -> list[Event]:
    events = []
    for _ in range(count):
        message_id = f"om_{uuid.uuid4().hex}"
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
                "sender": {"sender_id": {"open_id": USER}, "sender_type": "user"},
                "message": {
                    "message_id": message_id,
                    "chat_id": bench_chat(message_id),
                    "chat_type": chat_type,
                    "message_type": "text",
                    "content": json.dumps({"text": text}, ensure_ascii=False),
                    "mentions": [],
                },
            },
        }
        body = _encrypted(envelope)
        events.append(Event(message_id, body, _signed(body)))
    return events


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[max(int(len(sorted_values) * share) - 1, 0)]


@dataclass
class Result:
    events: int = 0
    wall: float = 0.0
    acks: list[float] = field(default_factory=list)  # seconds, POST → HTTP answer
    replies: list[float] = field(default_factory=list)  # seconds, POST → reply at the emulator
    failures: int = 0
    cpu: float = 0.0  # the server's CPU seconds over the run
    emulator_cpu: float = 0.0  # the fake Feishu's, answered path only

    @property
    def per_second(self) -> float:
        return self.events / self.wall

    @property
    def cpu_per_event_us(self) -> float:
        return self.cpu / self.events * 1e6

    @property
    def emulator_cpu_per_reply_us(self) -> float:
        return self.emulator_cpu / self.events * 1e6

    def ack_ms(self, share: float) -> float:
        return _percentile(sorted(self.acks), share) * 1000

    def reply_ms(self, share: float) -> float:
        return _percentile(sorted(self.replies), share) * 1000


async def _settled_cpu(child: Child) -> float:
    """The CPU counter once the server has finished what the load left it (a log line, a last write)."""
    last = child.cpu_seconds()
    for _ in range(20):
        await asyncio.sleep(0.05)
        now = child.cpu_seconds()
        if now - last < IDLE_CPU_SECONDS:
            return now
        last = now
    return last


async def post_all(
    session: aiohttp.ClientSession, url: str, events: list[Event], concurrency: int, server: Child
) -> Result:
    """Open loop: `concurrency` posters, each sending its next event as soon as the last was answered."""
    result = Result(events=len(events))
    queue = list(reversed(events))

    async def poster() -> None:
        while queue:
            event = queue.pop()
            started = time.perf_counter()
            async with session.post(url, data=event.body, headers=event.headers) as response:
                await response.read()
                result.failures += response.status != 200
            result.acks.append(time.perf_counter() - started)

    cpu = server.cpu_seconds()
    began = time.perf_counter()
    await asyncio.gather(*(poster() for _ in range(concurrency)))
    result.wall = time.perf_counter() - began
    result.cpu = await _settled_cpu(server) - cpu
    return result


async def take_turns(
    servers: list[Server], warm: list[Event], events: list[Event], concurrency: int
) -> dict[str, Result]:
    """The same events to each server in turn, back to back, so a change in the machine's load falls on all of
    them alike. Each server's connections are opened before its turn, as Feishu keeps its own open: no turn pays
    for connecting. (Shorter, alternating turns were tried: each turn's ramp up and down then costs every server
    3-6 ms, up to 25 µs per event at 250 events a turn.)"""
    results = {}
    for server in servers:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            # Events of their own: hrbot claims what it answers, so measured events sent twice would be duplicates.
            await post_all(session, server.url, warm, concurrency, server.child)
            results[server.name] = await post_all(session, server.url, events, concurrency, server.child)
    return results


async def converse(
    url: str, bench_url: str, events: list[Event], concurrency: int, server: Child, emulator: Child
) -> Result:
    """Closed loop: `concurrency` conversations, each sending its next message once the reply to its last one has
    reached the emulator. Latency is from the POST to the reply's arrival (both clocks CLOCK_MONOTONIC)."""
    result = Result(events=len(events))
    waiting: dict[str, asyncio.Future[float]] = {}
    queue = list(reversed(events))
    loop = asyncio.get_running_loop()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency + 2)) as session:
        async with session.post(
            f"{bench_url}/bench/messages",
            json=[e.message_id for e in events],
        ) as answer:
            answer.raise_for_status()
        stream = await session.get(f"{bench_url}/bench/replies", timeout=aiohttp.ClientTimeout(total=None))

        async def read_replies() -> None:
            async for line in stream.content:
                message_id, arrived = line.decode().split()
                future = waiting.pop(message_id, None)
                if future is not None and not future.done():
                    future.set_result(float(arrived))

        async def conversation() -> None:
            while queue:
                event = queue.pop()
                arrived = waiting[event.message_id] = loop.create_future()
                started = time.monotonic()
                async with session.post(url, data=event.body, headers=event.headers) as response:
                    await response.read()
                    result.failures += response.status != 200
                result.acks.append(time.monotonic() - started)
                try:
                    result.replies.append(await asyncio.wait_for(arrived, 30) - started)
                except TimeoutError:
                    result.failures += 1

        reader = asyncio.create_task(read_replies())
        cpu, emulator_cpu = server.cpu_seconds(), emulator.cpu_seconds()
        began = time.monotonic()
        await asyncio.gather(*(conversation() for _ in range(concurrency)))
        result.wall = time.monotonic() - began
        result.cpu = await _settled_cpu(server) - cpu
        result.emulator_cpu = emulator.cpu_seconds() - emulator_cpu
        reader.cancel()
        stream.close()
    return result


class Child:
    """A server in its own process, started with `--serve`, answering CPU probes on its stdin."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL,
            text=True,
        )
        ready = self._line_starting("ready")
        if ready is None:
            raise RuntimeError(f"{args[0]} server did not start (BENCH_DEBUG=1 shows why)")
        self.ports = [int(port) for port in ready.split()[1:]]

    def _line_starting(self, word: str) -> str | None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # a library may print too: only the bench's own lines count
            if line.startswith(word):
                return line
        return None

    def cpu_seconds(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        line = self._line_starting("cpu ")
        if line is None:
            raise RuntimeError("a server exited during the bench")
        return float(line.split()[1])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class Server:
    name: str
    child: Child
    url: str


def run(events: int, concurrency: int, rounds: int, database_url: str, redis_url: str) -> None:
    children: list[Child] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            emulator = Child("emulator")
            children.append(emulator)
            feishu_port, bench_port = emulator.ports
            feishu_url, bench_url = f"http://127.0.0.1:{feishu_port}", f"http://127.0.0.1:{bench_port}"
            database = database_url or f"sqlite:///{Path(tmp) / 'hrbot.db'}"
            servers = []
            for name, extra in (
                ("hrbot", ["--feishu", feishu_url, "--database-url", database, "--redis-url", redis_url]),
                ("lark-oapi", ["--feishu", feishu_url]),
                ("stand-in", ["--feishu", feishu_url]),
                ("floor", []),
            ):
                child = Child(name, *extra)
                children.append(child)
                servers.append(Server(name, child, f"http://127.0.0.1:{child.ports[0]}/feishu/events"))
            rows = measure(servers, bench_url, emulator, events, concurrency, rounds)
            report(rows, events, concurrency, rounds, database, redis_url)
        finally:
            for child in children:
                child.stop()


Rows = dict[tuple[str, str], list[Result]]


def measure(
    servers: list[Server], bench_url: str, emulator: Child, events: int, concurrency: int, rounds: int
) -> Rows:
    rows: Rows = {}
    bots = [s for s in servers if s.name != "floor"]

    def ignored(count: int) -> dict[str, Result]:
        group = make_events(count, text="今天开会", chat_type="group")
        warm = make_events(concurrency * 2, text="今天开会", chat_type="group")
        return asyncio.run(take_turns(servers, warm, group, concurrency))

    def answered(server: Server, count: int) -> Result:
        p2p = make_events(count, text=HELP, chat_type="p2p")
        return asyncio.run(converse(server.url, bench_url, p2p, concurrency, server.child, emulator))

    ignored(300)  # warm: connections, tokens, first-use imports
    for server in bots:
        answered(server, 200)
    for _ in range(rounds):
        for name, result in ignored(events).items():
            rows.setdefault((name, "ignored"), []).append(result)
        for server in bots:
            rows.setdefault((server.name, "answered"), []).append(answered(server, events))
    hrbot = servers[0]
    slow, warm = (make_events(n, text=SLOW_COMMAND, chat_type="p2p") for n in (events, concurrency * 2))
    rows[("hrbot", "slow")] = [asyncio.run(take_turns([hrbot], warm, slow, concurrency))["hrbot"]]
    return rows


def _median(results: list[Result], figure: Callable[[Result], float]) -> float:
    return statistics.median(figure(r) for r in results)


def _ratio(ours: list[Result], theirs: list[Result], figure: Callable[[Result], float]) -> tuple[float, str]:
    """The median ratio, and its text with the range over the rounds (each round's pair measured back to back)."""
    each = [figure(a) / figure(b) for a, b in zip(ours, theirs, strict=True)]
    median = statistics.median(each)
    spread = f" (rounds {min(each):.2f}-{max(each):.2f})" if len(each) > 1 else ""
    return median, f"{median:.2f}x{spread}"


def _goal(value: float, sign: str, limit: float, unit: str = "x") -> str:
    met = value <= limit if sign == "<=" else value >= limit
    return f"(goal {sign} {limit:g}{unit}: {'met' if met else 'MISSED'})"


def report(rows: Rows, events: int, concurrency: int, rounds: int, database: str, redis_url: str) -> None:
    store = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    print(
        f"{events} encrypted, signed events per path, {rounds} round(s), {concurrency} concurrent; each server and "
        f"the Feishu emulator in its own process; hrbot on {store}{' + Redis' if redis_url else ''}; medians"
    )
    print(
        f"{'path':<9} {'server':<10} {'events/s':>9} {'ack p50':>8} {'ack p99':>8} {'CPU/event':>10} "
        f"{'replies/s':>10} {'reply p50':>10} {'reply p99':>10} {'failed':>7}"
    )
    for (name, path), results in rows.items():

        def median(figure: Callable[[Result], float], results: list[Result] = results) -> float:
            return _median(results, figure)

        reply = (
            f"{median(lambda r: r.per_second):>10.0f} {median(lambda r: r.reply_ms(0.5)):>8.1f}ms "
            f"{median(lambda r: r.reply_ms(0.99)):>8.1f}ms"
            if path == "answered"
            else f"{'':>10} {'':>10} {'':>10}"
        )
        print(
            f"{path:<9} {name:<10} {median(lambda r: r.per_second):>9.0f} {median(lambda r: r.ack_ms(0.5)):>6.2f}ms "
            f"{median(lambda r: r.ack_ms(0.99)):>6.2f}ms {median(lambda r: r.cpu_per_event_us):>8.0f}µs {reply} "
            f"{sum(r.failures for r in results):>7}"
        )

    def cpu(r: Result) -> float:
        return r.cpu_per_event_us

    def rate(r: Result) -> float:
        return r.per_second

    floor = rows[("floor", "ignored")]
    ignored, lark_ignored = rows[("hrbot", "ignored")], rows[("lark-oapi", "ignored")]
    ours, theirs, standin = (
        rows[("hrbot", "answered")],
        rows[("lark-oapi", "answered")],
        rows[("stand-in", "answered")],
    )
    over_floor, over_floor_text = _ratio(ignored, floor, cpu)
    over_standin, over_standin_text = _ratio(ours, standin, cpu)
    pace, pace_text = _ratio(ours, standin, rate)
    print(
        f"yardsticks: the floor (a bare aiohttp route answering {{}}) {_median(floor, cpu):.0f} µs of CPU per request; "
        f"the stand-in (verify, decrypt, parse, reply through one pooled client) {_median(standin, cpu):.0f} µs per "
        f"answered message; lark-oapi {_median(theirs, cpu):.0f} µs"
    )
    print(
        f"ignored:  CPU per event hrbot {over_floor_text} the floor {_goal(over_floor, '<=', 1.25)}; "
        f"lark-oapi {_ratio(lark_ignored, floor, cpu)[1]} the floor"
    )
    print(
        f"answered: CPU per answered message hrbot {over_standin_text} the stand-in {_goal(over_standin, '<=', 1.5)}; "
        f"replies/s {pace_text} the stand-in's {_goal(pace, '>=', 0.7)}"
    )
    print(
        f"          hrbot / lark-oapi: CPU {_ratio(ours, theirs, cpu)[1]}, replies/s {_ratio(ours, theirs, rate)[1]}"
    )
    print(
        f"          the emulator spent {_median(ours + theirs, lambda r: r.emulator_cpu_per_reply_us):.0f} µs of CPU "
        "per reply (card checks included): on 2 shared cores its share caps replies/s for all"
    )
    slow = rows[("hrbot", "slow")]
    ignored_ack, slow_ack = (_median(results, lambda r: r.ack_ms(0.99)) for results in (ignored, slow))
    print(
        f"hrbot ack p99: ignored {ignored_ack:.1f} ms {_goal(ignored_ack, '<=', 20, ' ms')}; with a 200 ms handler "
        f"{slow_ack:.1f} ms {_goal(slow_ack, '<=', 50, ' ms')}; answered "
        f"{_median(ours, lambda r: r.ack_ms(0.99)):.1f} ms (no goal: the same loop is building and sending replies)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="each server's turns per path; medians reported (a round of 2,000 events is ~0.2 s: one hiccup of the machine can double it)",
    )
    parser.add_argument(
        "--database-url", default="", help="hrbot's database (default: a temporary SQLite file)"
    )
    parser.add_argument("--redis-url", default="", help="hrbot's Redis for dedup (default: none)")
    parser.add_argument("--serve", choices=("hrbot", "lark-oapi", "stand-in", "floor", "emulator"))
    parser.add_argument("--feishu", default="")
    args = parser.parse_args()
    if args.serve:
        _answer_cpu_probes()
    if args.serve == "hrbot":
        serve_hrbot(args.feishu, args.database_url, args.redis_url)
    elif args.serve == "lark-oapi":
        serve_lark(args.feishu)
    elif args.serve == "stand-in":
        serve_standin(args.feishu)
    elif args.serve == "floor":
        serve_floor()
    elif args.serve == "emulator":
        serve_emulator()
    else:
        run(args.events, args.concurrency, args.rounds, args.database_url, args.redis_url)
