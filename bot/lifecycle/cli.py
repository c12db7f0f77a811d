"""`hrbot serve` runs the bot; `hrbot say` talks to a running sandbox bot from the terminal; `hrbot whoami` prints
the ids the settings need.

Only argparse is imported before the arguments are read: `hrbot --version` and `--help` answer at once, and each
command imports what it needs (the settings alone cost pydantic; the server needs aiohttp, SQLAlchemy, APScheduler).
`hrbot doctor` checks that the Feishu tenant is ready for the bot.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings


class _Version(argparse.Action):
    """`--version`, read from the installed metadata only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("hrbot")
        except PackageNotFoundError:
            found = "unknown"
        print(f"hrbot {found}")
        parser.exit()


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
    parser.add_argument("--version", action=_Version)
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
    doctor_cmd = commands.add_parser(
        "doctor",
        help="check that the Feishu app and tenant are ready for the bot (exit 0 when every required check passes)",
        description="Credentials, bot capability and published version, every scope the features declare, the "
        "contacts range, the bot's chats, the event ingress, database, Redis and provider keys. Sends no message "
        "to anyone and makes no billed call. Without credentials it examines the running sandbox bot.",
    )
    doctor_cmd.add_argument(
        "--mode", choices=("webhook", "ws"), default="webhook", help="event ingress to check"
    )
    doctor_cmd.add_argument("--json", action="store_true", help="print the checks as JSON, for scripts")
    args = parser.parse_args(argv)
    if args.command == "say":
        return _say(args)

    import asyncio

    from bot.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"hrbot: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.mode)
    if args.command == "doctor":
        return asyncio.run(_doctor(settings, args.mode, as_json=args.json))
    from bot.feishu.whoami import whoami

    return asyncio.run(whoami(settings))


def _say(args: argparse.Namespace) -> int:
    """Only what `say` needs: HRBOT_HOST and HRBOT_PORT (or the running bot's run file), and a blocking HTTP client;
    no settings model, no event loop, nothing the server needs (tests/test_cli_say.py checks it)."""
    import http.client

    from bot.lifecycle.run_state import AddressError, address_from_environment
    from bot.sandbox.say import say

    try:
        address = address_from_environment(os.environ)
    except AddressError as exc:
        print(f"hrbot: {exc}", file=sys.stderr)
        return 2
    try:
        return say(address, args.text, args.user, args.chat, args.wait)
    except (OSError, http.client.HTTPException, ValueError):
        print(
            "hrbot: lost the connection to the sandbox bot; is `hrbot serve` still running?", file=sys.stderr
        )
        return 1


async def _doctor(settings: Settings, mode: str, *, as_json: bool) -> int:
    import logging

    # Refusals the probes expect (a made-up chat, message or id) are not news: only the checks' lines are.
    logger = logging.getLogger("hrbot")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return await _diagnose(settings, mode, as_json=as_json)
    finally:
        logger.setLevel(level)


async def _diagnose(settings: Settings, mode: str, *, as_json: bool) -> int:
    from bot.lifecycle import doctor
    from bot.lifecycle.features import discover

    features = discover()
    if settings.sandbox:
        from bot.sandbox.doctor_target import sandbox_target

        target = await sandbox_target(settings, features)
        if target is None:
            print(
                f"hrbot: no Feishu credentials (FEISHU_APP_ID, FEISHU_APP_SECRET) and no sandbox bot at "
                f"{settings.hrbot_host}:{settings.hrbot_port}; set the credentials, or start the sandbox with "
                "`hrbot serve` and run this again to see what it checks",
                file=sys.stderr,
            )
            return 2
    else:
        target = doctor.Target(settings, features, mode=mode)
    checks = await doctor.diagnose(target)
    print(doctor.as_json(checks) if as_json else doctor.render(checks))
    return 0 if doctor.passed(checks) else 1


def _serve(settings: Settings, mode: str) -> int:
    import asyncio
    import logging
    import signal

    from bot.lifecycle import run_state
    from bot.lifecycle.startup_errors import check_urls, explain
    from bot.observability.logs import setup_logging

    setup_logging(settings.hrbot_log_level, settings.hrbot_log_format)
    log = logging.getLogger("hrbot")

    async def run() -> None:
        bot: Any
        if settings.sandbox:
            from bot.sandbox.compose import SandboxedBot

            bot = SandboxedBot(settings, mode=mode)
        else:
            from bot.lifecycle.app import BotApp

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
