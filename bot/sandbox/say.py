"""`hrbot say`: type a message into a running sandbox bot's chats and print what it answers, as plain text."""

from __future__ import annotations

import http.client
import json
import re
import sys
import time
import urllib.parse
from typing import Any

from bot.lifecycle.run_state import BotAddress
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
# After the first card, while the bot still has work in flight, wait at most this long for more: some commands answer
# with a card and then a follow-up. Once none is in flight, the answers are all there.
SETTLE_SECONDS = 0.5
POLL_SECONDS = 0.02
# A card that says it is being made (a digest of every employee takes seconds) is awaited until it is replaced,
# at most this long after it came.
IN_THE_MAKING = "正在生成"
MAKING_SECONDS = 60.0
# A bot just started answers /healthz a moment before the sandbox can deliver to it (503 then): `say` typed right
# after `hrbot serve` waits that long for it rather than refusing.
STARTING_SECONDS = 30.0


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


def say(address: BotAddress, words: list[str], user: str, chat: str, wait: float) -> int:
    """Type the message, wait until the bot has answered and finished with it, print the answers.

    Plain blocking HTTP (http.client): a terminal command that sends one message has no use for an event loop, and
    `hrbot say` answers in a fraction of a second only if it imports little."""
    try:
        open_id = resolve_user(user)
        text = message_text(words, chat)
    except SayError as exc:
        print(f"hrbot: {exc}", file=sys.stderr)
        return 2
    bot_url = address.url
    try:
        health = _get_json(f"{bot_url}/healthz")
    except (OSError, http.client.HTTPException, ValueError):
        print(
            f"hrbot: no bot answers at {bot_url} ({address.how}); start it with `hrbot serve`",
            file=sys.stderr,
        )
        return 1
    sandbox = health.get("sandbox_url") if isinstance(health, dict) else None
    if not sandbox:
        print("hrbot: `say` talks to a sandbox bot; this one is connected to Feishu", file=sys.stderr)
        return 1
    chat_id = CHATS[chat] or Directory.p2p_chat_of(open_id)
    status, body = _say_once_ready(sandbox, {"text": text, "user": open_id, "chat_id": chat_id})
    if status != 200:
        print(f"hrbot: the sandbox refused the message: {_error(body)}", file=sys.stderr)
        return 2 if status == 400 else 1
    sent = json.loads(body)
    replies = _collect_replies(bot_url, sandbox, sent["message_id"], wait)
    if not replies:
        busy = _in_flight(bot_url)
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


def _say_once_ready(sandbox: str, message: dict[str, str]) -> tuple[int, bytes]:
    deadline = time.monotonic() + STARTING_SECONDS
    while True:
        status, body = _request("POST", f"{sandbox}/sandbox/api/say", message)
        if status != 503 or time.monotonic() >= deadline:
            return status, body
        time.sleep(POLL_SECONDS * 5)


def _visible(reply: dict[str, Any]) -> str:
    """The reply as text a terminal shows as text: card and provider text may carry ESC sequences (colours, a
    window title by OSC), bidi overrides and other control characters; they are dropped, line breaks kept."""
    content = reply["content"]
    if reply["msg_type"] == "interactive":
        return clean(card_text(content, plain=True), keep_newlines=True)
    return clean(str(content.get("text", "")), keep_newlines=True)


def _error(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        found = json.loads(text)
    except ValueError:
        return clean(text)
    return clean(str(found.get("error", text)) if isinstance(found, dict) else text)


def _request(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """One request on a connection of its own (loopback: connecting costs less than keeping one)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, target, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _get_json(url: str) -> Any:
    _status, body = _request("GET", url)
    return json.loads(body)


def _collect_replies(bot_url: str, sandbox: str, message_id: str, wait: float) -> list[dict[str, Any]]:
    """The replies once the bot has no work in flight (it has answered, follow-ups of the same handling included),
    or SETTLE_SECONDS after the first reply while work is still in flight (another user's); at most `wait` seconds."""
    query = urllib.parse.urlencode({"reply_to": message_id})
    deadline = time.monotonic() + wait
    settle_until = None
    replies: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        # In-flight work first, replies after: a reply sent by work that has just finished is read.
        busy = _in_flight(bot_url)
        replies = _get_json(f"{sandbox}/sandbox/api/messages?{query}")
        if replies and settle_until is None:
            settle_until = time.monotonic() + SETTLE_SECONDS
            deadline = max(deadline, time.monotonic() + MAKING_SECONDS)
        making = any(IN_THE_MAKING in json.dumps(r.get("content"), ensure_ascii=False) for r in replies)
        if replies and not making and (not busy or time.monotonic() >= settle_until):
            break
        time.sleep(POLL_SECONDS)
    return replies


def _in_flight(bot_url: str) -> int:
    return int(_get_json(f"{bot_url}/healthz").get("in_flight", 0))
