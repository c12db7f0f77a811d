"""`hrbot serve` runs the bot; `hrbot say` talks to a running sandbox bot from the terminal; `hrbot whoami` prints
the ids the settings need."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from bot import run_state
from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.startup_errors import check_urls, explain

log = logging.getLogger("hrbot")


def _version() -> str:
    try:
        return version("hrbot")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # Whoever read the output has gone (`hrbot say 帮助 | head -3`): stop quietly. Python's last flush of stdout
        # would fail the same way, so stdout points at /dev/null first (the recipe in Python's `signal` docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="hrbot", description="Feishu bot for HR teams")
    parser.add_argument("--version", action="version", version=f"hrbot {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the bot (sandbox mode without Feishu credentials)")
    serve.add_argument("--mode", choices=("webhook", "ws"), default="webhook", help="event ingress")
    say_cmd = commands.add_parser(
        "say",
        help="send a message to a running sandbox bot and print its answer",
        description="Type a message into the sandbox, e.g.: hrbot say 企业社保 小米科技有限责任公司",
    )
    say_cmd.add_argument("text", nargs="+", help="the message; several words are joined with spaces")
    say_cmd.add_argument(
        "--user",
        default="employee",
        help="who types: an open_id, a persona's name or role (employee 张小明, hr 李思, manager 王建国)",
    )
    say_cmd.add_argument(
        "--chat",
        choices=("p2p", "group", "managers"),
        default="p2p",
        help="where to type: p2p = the user's private chat with the bot (default); group = the HR group (李思 "
        "and the bot); managers = the managers' group (王建国, 李思 and the bot). In groups the bot is "
        "@-mentioned for you.",
    )
    say_cmd.add_argument("--wait", type=float, default=15.0, help="seconds to wait for an answer")
    commands.add_parser(
        "whoami",
        help="print the chat_ids of the groups the bot is in and the open_ids of their members (for the settings)",
        description="Asks Feishu with the app's credentials (or the running sandbox bot's emulator without them).",
    )
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"hrbot: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.mode)
    if args.command == "whoami":
        from bot.whoami import whoami

        return asyncio.run(whoami(settings))
    try:
        from bot.sandbox.say import say

        return asyncio.run(say(settings, args.text, args.user, args.chat, args.wait))
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
            app = bot.app if settings.sandbox else bot
            run_state.write(app.url)  # for `hrbot say` / `hrbot whoami` in another shell
            await stop.wait()
        finally:
            run_state.remove()
            await bot.stop()

    try:
        check_urls(settings)
        asyncio.run(run())
    except Exception as exc:
        failure = explain(exc, settings)
        if failure is not None:
            log.debug("start-up failed", exc_info=True)
            print(f"hrbot: {failure.line}", file=sys.stderr)
            return failure.exit_status
        if isinstance(exc, OSError):
            print(
                f"hrbot: cannot listen on {settings.hrbot_host}:{settings.hrbot_port}: {exc.strerror}",
                file=sys.stderr,
            )
            return 1
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
