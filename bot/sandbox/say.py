"""`hrbot say`: type a message into a running sandbox bot's chats and print what it answers, as plain text."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Any

import httpx

from bot.config import Settings
from bot.lifecycle.run_state import bot_address
from bot.observability.logs import clean
from bot.sandbox.directory import HR_GROUP, MANAGER_GROUP, PERSONAS, Directory
from cards.text import card_text

CHATS = {"p2p": "", "group": HR_GROUP, "managers": MANAGER_GROUP}
CHAT_HELP = (
    "where to type: p2p = the user's private chat with the bot (default); group = the HR group (李思 and the bot); "
    "managers = the managers' group (王建国, 李思 and the bot). In groups the bot is @-mentioned for you."
)
USER_HELP = "who types: an open_id, a persona's name or role (employee 张小明, hr 李思, manager 王建国)"
BOT_MARKERS = ("@hrbot", "@bot")
_MENTION = re.compile(r"@(\S+)")
# After the first card, wait this long for more: some commands answer with a card and then a follow-up.
SETTLE_SECONDS = 0.5
# A card that says it is being made (a digest of every employee takes seconds) is awaited until it is replaced,
# at most this long after it came.
IN_THE_MAKING = "正在生成"
MAKING_SECONDS = 60.0


class SayError(Exception):
    """A mistake in the command line, phrased as what to do instead."""


def personas_hint() -> str:
    return "; ".join(f"{p.open_id} ({p.name}, {p.role})" for p in PERSONAS)


def resolve_user(user: str) -> str:
    """An open_id as given, or the persona with that name or role."""
    for person in PERSONAS:
        if user in (person.open_id, person.name, person.role):
            return person.open_id
    if user.startswith("ou_"):
        return user
    raise SayError(f"no sandbox user {user!r}; choose one of: {personas_hint()}")


def message_text(words: list[str], chat: str) -> str:
    """The words as one message; in a group the bot is mentioned unless the text does it already, as a person
    would type "@hrbot" to be answered there. `@name` must name a persona, as Feishu's client picks a person."""
    text = " ".join(words).strip()
    if not text:
        raise SayError("nothing to say: give the message, e.g. hrbot say 企业社保 小米科技有限责任公司")
    for mention in _MENTION.findall(text):
        known = [p for p in PERSONAS if mention.startswith(p.name)]
        if not known and f"@{mention}" not in BOT_MARKERS:
            names = ", ".join(f"@{p.name}" for p in PERSONAS)
            raise SayError(f"nobody called {mention!r} in the sandbox to mention; mention one of {names}")
    if CHATS[chat] and not any(marker in text for marker in BOT_MARKERS):
        text = f"@hrbot {text}"
    return text


async def say(settings: Settings, words: list[str], user: str, chat: str, wait: float) -> int:
    try:
        open_id = resolve_user(user)
        text = message_text(words, chat)
    except SayError as exc:
        print(f"hrbot: {exc}", file=sys.stderr)
        return 2
    address = bot_address(settings)
    bot_url = address.url
    async with httpx.AsyncClient(timeout=10.0) as client:
        try:
            health = (await client.get(f"{bot_url}/healthz")).json()
        except (httpx.HTTPError, ValueError):
            print(
                f"hrbot: no bot answers at {bot_url} ({address.how}); start it with `hrbot serve`",
                file=sys.stderr,
            )
            return 1
        sandbox = health.get("sandbox_url")
        if not sandbox:
            print("hrbot: `say` talks to a sandbox bot; this one is connected to Feishu", file=sys.stderr)
            return 1
        chat_id = CHATS[chat] or Directory.p2p_chat_of(open_id)
        response = await client.post(
            f"{sandbox}/sandbox/api/say", json={"text": text, "user": open_id, "chat_id": chat_id}
        )
        if response.status_code != 200:
            print(f"hrbot: the sandbox refused the message: {_error(response)}", file=sys.stderr)
            return 2 if response.status_code == 400 else 1
        sent = response.json()
        replies = await _collect_replies(client, sandbox, sent["message_id"], wait)
        if not replies:
            busy = (await client.get(f"{bot_url}/healthz")).json().get("in_flight", 0)
            why = (
                f"it is still working on it; wait longer with --wait {int(wait * 4)}"
                if busy
                else "see the log of `hrbot serve` for why"
            )
            print(f"hrbot: the bot sent no answer within {wait:g} s; {why}", file=sys.stderr)
            return 1
    for reply in replies:
        print(_visible(reply))
        print()
    return 0


def _visible(reply: dict[str, Any]) -> str:
    """The reply as text a terminal shows as text: card and provider text may carry ESC sequences (colours, a
    window title by OSC), bidi overrides and other control characters; they are dropped, line breaks kept."""
    content = reply["content"]
    if reply["msg_type"] == "interactive":
        return clean(card_text(content, plain=True), keep_newlines=True)
    return clean(str(content.get("text", "")), keep_newlines=True)


def _error(response: httpx.Response) -> str:
    try:
        return clean(str(response.json().get("error", response.text)))
    except ValueError:
        return clean(response.text)


async def _collect_replies(
    client: httpx.AsyncClient, sandbox: str, message_id: str, wait: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait
    replies: list[dict[str, Any]] = []
    settle_until = None
    while time.monotonic() < deadline:
        replies = (
            await client.get(f"{sandbox}/sandbox/api/messages", params={"reply_to": message_id})
        ).json()
        if replies and settle_until is None:
            settle_until = time.monotonic() + SETTLE_SECONDS
            deadline = max(deadline, time.monotonic() + MAKING_SECONDS)
        making = any(IN_THE_MAKING in json.dumps(r.get("content"), ensure_ascii=False) for r in replies)
        if settle_until is not None and time.monotonic() >= settle_until and not making:
            break
        await asyncio.sleep(0.1)
    return replies
