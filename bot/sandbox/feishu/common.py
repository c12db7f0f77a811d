"""What every API family of the Feishu emulator shares: the emulator's state, the stored message, the {code, msg, data}
answer shapes, the one-second rate window, and the limits and codes more than one family answers with.

Each family (auth, messages, files, chats, contacts, events) is a mixin over `EmulatorState`, so a handler reads the
same messages, tokens and directory whichever module it lives in; `bot.sandbox.feishu` assembles them into one
`FeishuEmulator`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from bot.clock import Clock
from bot.sandbox.card_rules import CardViolation
from bot.sandbox.directory import Directory
from bot.sandbox.longconn import LongConnHub

# The request carrying a card is limited to 30 KB, measured on the HTTP body as sent.
MAX_BODY_BYTES = 30 * 1024
# Send message doc (https://open.feishu.cn/document/server-docs/im-v1/message/create): uuid 最大长度 50 字符.
MAX_UUID_CHARS = 50
# Same doc: 持有相同 uuid 的请求 1 小时内至多成功发送一条消息 (replies take the same uuid: im-v1/message/reply).
UUID_WINDOW_SECONDS = 3600
# JSON 2.0 breaking-changes page: 卡片可交互和可更新时间统一为 14 天.
UPDATE_WINDOW = 14 * 24 * 3600
# Update message doc (https://open.feishu.cn/document/server-docs/im-v1/message-card/patch): 单条消息更新频控为 5 QPS.
UPDATES_PER_MESSAGE_PER_SECOND = 5
# Card callback doc: the callback must be answered within 3 seconds, else the user sees an error toast.
CALLBACK_DEADLINE = 3.0

# Codes as Feishu answers them.
CONTENT_TOO_LONG = 230025
MESSAGE_WITHDRAWN = 230011
MESSAGE_TOO_OLD = 230031
# The per-message update limit's code (the message API's "frequency limit" code, 230020).
MESSAGE_UPDATE_LIMITED = 230020
FIELD_INVALID = 99992402
# The sandbox company's tenant, as events and messages name it.
TENANT_KEY = "sandbox-tenant"

# An Open API route: (method, path, handler). Feature emulators (e.g. compensation) contribute extra ones.
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


@dataclass
class SandboxMessage:
    message_id: str
    chat_id: str
    sender: str  # open_id of the sender; the bot's for what the bot sent
    msg_type: str
    content: Any  # card JSON (dict) for interactive, {"text": ...} for text
    created_at: float
    reply_to: str | None = None
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ok(data: Any = None, **extra: Any) -> web.Response:
    return web.json_response({"code": 0, "msg": "success", "data": data or {}, **extra})


def fail(code: int, msg: str, status: int = 400) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class RateWindow:
    """A sliding one-second window, as Feishu enforces per-API frequency limits."""

    def __init__(self, per_second: int, now: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._now = now
        self._hits: deque[float] = deque()
        self.rejected = 0

    def admit(self) -> bool:
        now = self._now()
        while self._hits and self._hits[0] <= now - 1.0:
            self._hits.popleft()
        if len(self._hits) >= self.per_second:
            self.rejected += 1
            return False
        self._hits.append(now)
        return True

    def reset_after(self) -> int:
        """Whole seconds until the window admits again (at least 1: Feishu's header is in seconds)."""
        if not self._hits:
            return 0
        return max(1, math.ceil(self._hits[0] + 1.0 - self._now()))


@dataclass
class DeliveryTarget:
    url: str
    encrypt_key: str
    verification_token: str
    app_id: str


@dataclass
class EmulatorState:
    """The emulator's state, which every API family's mixin reads and changes."""

    clock: Clock
    app_id: str
    app_secret: str
    directory: Directory = field(default_factory=Directory)
    target: DeliveryTarget | None = None
    longconn: LongConnHub | None = None
    tokens: dict[str, float] = field(default_factory=dict)
    token_requests: int = 0
    messages: dict[str, SandboxMessage] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_key → (file name, content)
    api_calls: dict[str, int] = field(default_factory=dict)
    rate_windows: dict[str, RateWindow] = field(default_factory=dict)
    extra_routes: list[Route] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)
    # uuid → (message_id, when it landed): a send or reply with a uuid seen within the hour returns that message.
    _idempotency: dict[str, tuple[str, float]] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    # What Feishu showed users instead of applying a callback answer: late answers and unbuildable cards.
    callback_errors: list[dict[str, Any]] = field(default_factory=list)
    callback_deadline: float = CALLBACK_DEADLINE
    # What lands while a callback's answer travels back to Feishu (a test runs the bot's scheduled poll here): the
    # answer's card is applied after it, as Feishu applies an answer after any update that reached it first.
    while_answer_travels: Callable[[], Awaitable[None]] | None = None
    _update_windows: dict[str, RateWindow] = field(default_factory=dict)
    # Behind the token check, e.g. a half-configured tenant's answers (bot/sandbox/tenant.py).
    middlewares: list[Any] = field(default_factory=list)
    _send_windows: dict[str, RateWindow] = field(default_factory=dict)
    # The seconds the per-chat send limit is counted in (tests hold it still to send six within "one second").
    rate_clock: Callable[[], float] = time.monotonic
    # Clicks on cards older than 14 days, which Feishu does not deliver.
    expired_clicks: list[str] = field(default_factory=list)


class TooLong(CardViolation):
    """The request body is over its limit, 30 KB for a card (Feishu's 230025, 'content too long')."""

    def __init__(self, size: int, limit: int = MAX_BODY_BYTES) -> None:
        super().__init__("$", f"request body is {size} bytes, over the {limit}-byte limit")

    @property
    def code(self) -> int:
        return CONTENT_TOO_LONG

    @property
    def msg(self) -> str:
        return f"message content too long: {self.message}"
