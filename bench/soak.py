"""Soak: two replicas answer a steady stream of messages while one of them is killed (SIGKILL) every 10-15 s and
started again, and Redis (when used) is flushed once. Every event is delivered again, to either replica, until one
answers 200, as Feishu does. Reported: messages, kills, lost (no reply) and doubled (more than one reply).

    python bench/soak.py --seconds 150 --rate 20                       # SQLite, no Redis
    python bench/soak.py --database-url postgresql://... --redis-url redis://127.0.0.1:6379/0

tests/test_soak.py runs a short one in the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import Clock  # noqa: E402
from bot.ingress.crypto import encrypt, signature  # noqa: E402
from bot.sandbox.directory import EMPLOYEE, Directory  # noqa: E402
from bot.sandbox.server import Sandbox  # noqa: E402
from bot.state.store import sync_url  # noqa: E402

ENCRYPT_KEY = "soak-encrypt-key"
VERIFICATION_TOKEN = "soak-verification-token"
# Most messages are answered from the bot alone; every fifth asks the provider (billed once, then cached).
TEXTS = ("帮助", "帮助", "帮助", "帮助", "企业社保 小米科技有限责任公司")
# Once sending stops, how long the replicas get to answer everything before what has no reply counts as lost.
SETTLE_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replica_env(sandbox: Sandbox, port: int, database_url: str, redis_url: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
    }
    env.update({name.upper(): str(value) for name, value in sandbox.upstream_settings().items()})
    env.update(
        {
            "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
            "FEISHU_VERIFICATION_TOKEN": VERIFICATION_TOKEN,
            "HRBOT_PORT": str(port),
            "HRBOT_DATABASE_URL": database_url,
            "HRBOT_REDIS_URL": redis_url,
            "HRBOT_METRICS_PORT": "0",
            "HRBOT_QUOTA_USER_DAILY": "off",
            "HRBOT_QUOTA_CHAT_DAILY": "off",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


async def start_replica(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.lifecycle.cli",
        "serve",
        "--mode",
        "webhook",
        env=env,
        cwd=log.parent,
        preexec_fn=_die_with_parent,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                if (await client.get(f"http://127.0.0.1:{env['HRBOT_PORT']}/healthz")).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"a replica did not start; see {log}")


def _die_with_parent() -> None:
    """Linux: the replica gets SIGKILL when the soak goes (a timeout killed it), rather than serving on alone."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1


def unfinished(database_url: str) -> int:
    engine = sqlalchemy.create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sqlalchemy.text("SELECT count(*) FROM processed_events WHERE state = 'accepted'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


async def soak(
    *,
    seconds: float,
    rate: float,
    database_url: str,
    redis_url: str,
    workdir: Path,
    kill_every: tuple[float, float],
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    envs = [replica_env(sandbox, free_port(), database_url, redis_url) for _ in range(2)]
    logs = [workdir / f"replica-{index}.log" for index in range(2)]
    # One after the other: SQLite's migrations have no lock across processes.
    replicas = [await start_replica(env, log) for env, log in zip(envs, logs, strict=True)]
    urls = [f"http://127.0.0.1:{env['HRBOT_PORT']}/feishu/events" for env in envs]
    http = httpx.AsyncClient(timeout=10.0)
    stats = {"kills": 0, "redis_flushed": 0, "deliveries": 0, "never_answered": 0}
    # Deliveries not answered 200, by status or error: what redelivery covered.
    failures: dict[str, int] = {}

    async def deliver(event_type: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Feishu's way: the same envelope again, to whichever replica, until one answers 200."""
        envelope = sandbox.feishu._envelope(event_type, event)
        envelope["header"]["token"] = VERIFICATION_TOKEN
        body = json.dumps(
            {"encrypt": encrypt(json.dumps(envelope, ensure_ascii=False), ENCRYPT_KEY)}
        ).encode()
        first = random.randrange(len(urls))
        give_up = loop.time() + SETTLE_SECONDS
        attempt = 0
        while loop.time() < give_up:
            timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
            headers = {
                "Content-Type": "application/json",
                "X-Lark-Request-Timestamp": timestamp,
                "X-Lark-Request-Nonce": nonce,
                "X-Lark-Signature": signature(timestamp, nonce, ENCRYPT_KEY, body),
            }
            stats["deliveries"] += 1
            try:
                answer = await http.post(urls[(first + attempt) % len(urls)], content=body, headers=headers)
                if answer.status_code == 200:
                    return 200, {}
                failures[str(answer.status_code)] = failures.get(str(answer.status_code), 0) + 1
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            attempt += 1
            await asyncio.sleep(min(0.05 * attempt, 1.0))
        stats["never_answered"] += 1
        return 0, {}

    sandbox.feishu.deliver = deliver  # type: ignore[method-assign]
    # Each reply's uuid, to say where a doubled one came from.
    uuids: dict[str, list[str]] = {}
    store_reply = sandbox.feishu._store_bot_message

    def remember_uuid(
        body: dict[str, Any], content: Any, chat_id: str, *, reply_to: str | None = None
    ) -> Any:
        if reply_to:
            uuids.setdefault(reply_to, []).append(str(body.get("uuid")))
        return store_reply(body, content, chat_id, reply_to=reply_to)

    sandbox.feishu._store_bot_message = remember_uuid  # type: ignore[method-assign]
    chat = Directory.p2p_chat_of(EMPLOYEE)
    started = loop.time()
    end = started + seconds

    async def kill_and_restart() -> None:
        while True:
            pause = random.uniform(*kill_every)
            if loop.time() + pause >= end:
                return
            await asyncio.sleep(pause)
            victim = random.randrange(len(replicas))
            replicas[victim].kill()
            await replicas[victim].wait()
            stats["kills"] += 1
            if redis_url and not stats["redis_flushed"]:
                redis.Redis.from_url(redis_url).flushdb()
                stats["redis_flushed"] = 1
            replicas[victim] = await start_replica(envs[victim], logs[victim])

    killer = asyncio.create_task(kill_and_restart())
    asks: list[asyncio.Task[Any]] = []
    sent = 0
    while loop.time() < end:
        text = TEXTS[sent % len(TEXTS)]
        asks.append(asyncio.create_task(sandbox.feishu.user_says(text, user=EMPLOYEE, chat_id=chat)))
        sent += 1
        await asyncio.sleep(max(0.0, started + sent / rate - loop.time()))
    await killer  # never cut short: a replica it is starting must end up in `replicas`, to be stopped
    asked = await asyncio.gather(*asks)
    # Settled: every message answered and nothing accepted left running, or the time is up.
    deadline = loop.time() + SETTLE_SECONDS
    while loop.time() < deadline:
        if all(sandbox.feishu.replies_to(m.message_id) for m in asked) and unfinished(database_url) == 0:
            break
        await asyncio.sleep(0.2)
    replies = [len(sandbox.feishu.replies_to(m.message_id)) for m in asked]
    for message, count in zip(asked, replies, strict=True):
        if count != 1:
            titles = [
                r.content.get("header", {}).get("title", {}).get("content")
                for r in sandbox.feishu.replies_to(message.message_id)
            ]
            print(
                f"{message.message_id} {message.content} replies={titles} uuids={uuids.get(message.message_id)}",
                file=sys.stderr,
            )
    # A replica that exited on its own (not one of ours killed) is a crash: its log says why.
    crashed = [
        str(log) for replica, log in zip(replicas, logs, strict=True) if replica.returncode is not None
    ]
    for replica in replicas:
        if replica.returncode is None:
            replica.terminate()
        await replica.wait()
    await http.aclose()
    await sandbox.stop()
    return {
        "messages": len(asked),
        "seconds": seconds,
        "rate": rate,
        "kills": stats["kills"],
        "redis_flushed": stats["redis_flushed"],
        "deliveries": stats["deliveries"],
        "never_answered": stats["never_answered"],
        "failed_deliveries": ",".join(f"{k}:{v}" for k, v in sorted(failures.items())) or "-",
        # Events a killed replica had acknowledged and not finished, run again by another or by its successor.
        "taken_over": sum(log.read_text(errors="replace").count("taking over event") for log in logs),
        "lost": sum(1 for count in replies if count == 0),
        "doubled": sum(1 for count in replies if count > 1),
        "database": sqlalchemy.engine.make_url(database_url).get_backend_name(),
        "crashed": ",".join(crashed) or "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--kill-every", default="10-15", help="seconds between kills, a range")
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    parser.add_argument("--redis-url", default="")
    parser.add_argument(
        "--keep", action="store_true", help="keep the replicas' logs (the directory is printed)"
    )
    args = parser.parse_args()
    low, _, high = args.kill_every.partition("-")
    workdir = Path(tempfile.mkdtemp(prefix="hrbot-soak-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'hrbot.db'}"
    try:
        result = asyncio.run(
            soak(
                seconds=args.seconds,
                rate=args.rate,
                database_url=database_url,
                redis_url=args.redis_url,
                workdir=workdir,
                kill_every=(float(low), float(high or low)),
            )
        )
    finally:
        if args.keep:
            print(f"logs in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(" ".join(f"{key}={value}" for key, value in result.items()))


if __name__ == "__main__":
    main()
