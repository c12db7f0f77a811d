"""`hrbot serve` runs the bot; `hrbot say` talks to a running sandbox bot from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

import httpx

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from cards.text import card_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hrbot", description="Feishu bot for HR teams")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the bot (sandbox mode without Feishu credentials)")
    serve.add_argument("--mode", choices=("webhook", "ws"), default="webhook", help="event ingress")
    say = commands.add_parser("say", help="send a message to a running sandbox bot and print its answer")
    say.add_argument("text")
    say.add_argument("--user", help="sender open_id (default: the sandbox employee)")
    say.add_argument("--chat", choices=("p2p", "group"), default="p2p")
    say.add_argument("--wait", type=float, default=15.0, help="seconds to wait for an answer")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"hrbot: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.mode)
    try:
        return asyncio.run(_say(settings, args.text, args.user, args.chat, args.wait))
    except httpx.HTTPError:
        print(
            "hrbot: lost the connection to the sandbox bot; is `hrbot serve` still running?", file=sys.stderr
        )
        return 1


def _serve(settings: Settings, mode: str) -> int:
    setup_logging(settings.hrbot_log_level, settings.hrbot_log_format)

    async def run() -> None:
        bot: Any
        if settings.sandbox:
            from bot.sandbox.compose import SandboxedBot

            bot = SandboxedBot(settings, mode=mode)
        else:
            from bot.app import BotApp

            bot = BotApp(settings, mode=mode)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await bot.start()
            await stop.wait()
        finally:
            await bot.stop()

    try:
        asyncio.run(run())
    except ConfigError as exc:
        print(f"hrbot: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"hrbot: cannot listen on {settings.hrbot_host}:{settings.hrbot_port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _say(settings: Settings, text: str, user: str | None, chat: str, wait: float) -> int:
    from bot.sandbox.directory import EMPLOYEE, HR_GROUP, Directory

    user = user or EMPLOYEE
    bot_url = f"http://{settings.hrbot_host}:{settings.hrbot_port}"
    async with httpx.AsyncClient(timeout=10.0) as client:
        try:
            health = (await client.get(f"{bot_url}/healthz")).json()
        except (httpx.HTTPError, ValueError):
            print(f"hrbot: no bot answers at {bot_url}; start it with `hrbot serve`", file=sys.stderr)
            return 1
        sandbox = health.get("sandbox_url")
        if not sandbox:
            print("hrbot: `say` talks to a sandbox bot; this one is connected to Feishu", file=sys.stderr)
            return 1
        chat_id = Directory.p2p_chat_of(user) if chat == "p2p" else HR_GROUP
        if chat == "group" and "@" not in text:
            text = f"@hrbot {text}"
        response = await client.post(
            f"{sandbox}/sandbox/api/say", json={"text": text, "user": user, "chat_id": chat_id}
        )
        if response.status_code != 200:
            print(f"hrbot: the sandbox refused the message: {response.text}", file=sys.stderr)
            return 1
        sent = response.json()
        replies = await _collect_replies(client, sandbox, sent["message_id"], wait)
    if not replies:
        print("(no answer)")
        return 0 if chat == "group" else 1
    for reply in replies:
        content = reply["content"]
        print(card_text(content) if reply["msg_type"] == "interactive" else content.get("text", ""))
        print()
    return 0


async def _collect_replies(
    client: httpx.AsyncClient, sandbox: str, message_id: str, wait: float
) -> list[dict]:
    deadline = time.monotonic() + wait
    replies: list[dict] = []
    settle_until = None
    while time.monotonic() < deadline:
        replies = (
            await client.get(f"{sandbox}/sandbox/api/messages", params={"reply_to": message_id})
        ).json()
        if replies and settle_until is None:
            settle_until = time.monotonic() + 0.5  # more cards may follow the first
        if settle_until is not None and time.monotonic() >= settle_until:
            break
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.1)
    return replies


if __name__ == "__main__":
    raise SystemExit(main())
