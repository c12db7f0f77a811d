"""Bots as real processes in live mode against emulators the test owns (the emulators outlive a kill -9)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx

from bot.clock import Clock
from bot.sandbox.server import Sandbox
from tests import feishu_wire as wire
from tests.conftest import REDIS_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bot_env(sandbox: Sandbox, port: int, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
    }
    env.update({name.upper(): str(value) for name, value in sandbox.upstream_settings().items()})
    env.update(
        {
            "FEISHU_ENCRYPT_KEY": wire.ENCRYPT_KEY,
            "FEISHU_VERIFICATION_TOKEN": wire.TOKEN,
            "HRBOT_PORT": str(port),
            "HRBOT_DATABASE_URL": database_url,
            "HRBOT_REDIS_URL": REDIS_URL,
            "HRBOT_MICRO_ENT_POLL_SECONDS": "1",
            "HRBOT_METRICS_PORT": "0",
            **extra,
        }
    )
    return env


async def sandbox_for(port: int, *, employees: int = 20) -> Sandbox:
    """Emulators owned by the test, delivering events to a bot process that will listen on `port`."""
    sandbox = Sandbox(Clock(), employees=employees)
    await sandbox.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/feishu/events"
    sandbox.deliver_to(url, encrypt_key=wire.ENCRYPT_KEY, verification_token=wire.TOKEN)
    return sandbox


async def start_bot(
    env: dict[str, str], cwd: Path, *, log_file: Path | None = None, mode: str = "webhook"
) -> asyncio.subprocess.Process:
    # Kept beside the test's files: a failing test's report shows each bot's last lines (tests/conftest.py).
    log_file = log_file or _next_log(cwd)
    with log_file.open("wb") as stderr:  # the child keeps its own copy
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.lifecycle.cli",
            "serve",
            "--mode",
            mode,
            env=env,
            cwd=cwd,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{env['HRBOT_PORT']}/healthz"
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url)).status_code == 200:
                    return process
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("the bot did not start")


def _next_log(cwd: Path) -> Path:
    taken = {path.name for path in cwd.glob("bot-*.log")}
    return cwd / next(f"bot-{n}.log" for n in range(1, len(taken) + 2) if f"bot-{n}.log" not in taken)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()
