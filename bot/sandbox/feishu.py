"""An emulator of the Feishu Open API and of Feishu's event delivery, for sandbox mode and tests.

It issues tenant tokens (with expiry on the injected clock), stores the messages the bot sends, replies and patches,
keeps uploaded images, answers contact look-ups from a synthetic directory, and delivers user messages and card clicks
to the bot's callback URL encrypted and signed exactly as Feishu does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from aiohttp import BodyPartReader, web

from bot.clock import Clock
from bot.ingress.crypto import encrypt, signature
from bot.sandbox.card_rules import CardViolation, validate_card, walk
from bot.sandbox.directory import BOT_OPEN_ID, Directory, email_of, mobile_of
from bot.sandbox.longconn import ENDPOINT_PATH, LongConnHub

TOKEN_LIFETIME = 7200
# Tenant token doc (https://open.feishu.cn/document/server-docs/authentication-management/access-token/
# tenant_access_token_internal): 剩余有效期小于 30 分钟时，调用本接口会返回一个新的 token；否则返回原 token.
TOKEN_REUSE_MARGIN = 30 * 60
# The request carrying a card is limited to 30 KB, measured on the HTTP body as sent.
MAX_BODY_BYTES = 30 * 1024
# Send message doc (https://open.feishu.cn/document/server-docs/im-v1/message/create): uuid 最大长度 50 字符.
MAX_UUID_CHARS = 50
# Event subscription doc: an event not answered with HTTP 200 within 3 s is pushed again (15 s, 5 min, 1 h, 6 h
# later); the sandbox pushes again at once.
EVENT_DELIVERY_ATTEMPTS = 3
# Upload a file (https://open.feishu.cn/document/server-docs/im-v1/file/create): these file_type values, at most
# 30 MB, no empty file.
FILE_TYPES = frozenset({"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"})
MAX_FILE_BYTES = 30 * 1024 * 1024
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
RATE_LIMITED = 99991400
# What users report seeing when a card callback is not answered in time (unverified: no public doc lists it).
CALLBACK_TIMEOUT = 200671
# The error a client shows for a callback answered with a card Feishu cannot build (unverified, as users report it).
CALLBACK_BAD_CARD = 200672

# Extra Open API routes contributed by feature emulators (e.g. compensation): (method, path, handler).
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


class EventNotDelivered(Exception):
    """Every push of an event to the bot failed."""


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


def _ok(data: Any = None, **extra: Any) -> web.Response:
    return web.json_response({"code": 0, "msg": "success", "data": data or {}, **extra})


def _fail(code: int, msg: str, status: int = 400) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class RateWindow:
    """A sliding one-second window, as Feishu enforces per-API frequency limits."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._hits: deque[float] = deque()
        self.rejected = 0

    def admit(self) -> bool:
        now = time.monotonic()
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
        return max(1, math.ceil(self._hits[0] + 1.0 - time.monotonic()))


@dataclass
class DeliveryTarget:
    url: str
    encrypt_key: str
    verification_token: str
    app_id: str


@dataclass
class FeishuEmulator:
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
    _idempotency: dict[str, str] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    # What Feishu showed users instead of applying a callback answer: late answers and unbuildable cards.
    callback_errors: list[dict[str, Any]] = field(default_factory=list)
    callback_deadline: float = CALLBACK_DEADLINE
    _update_windows: dict[str, RateWindow] = field(default_factory=dict)

    # Observing -------------------------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def _publish(self, kind: str, message: SandboxMessage) -> None:
        for queue in list(self._subscribers):
            if not queue.full():
                queue.put_nowait({"kind": kind, "message": message.to_json()})

    def bot_messages(self, chat_id: str | None = None) -> list[SandboxMessage]:
        return [
            m
            for m in self.messages.values()
            if m.sender == BOT_OPEN_ID and (chat_id is None or m.chat_id == chat_id)
        ]

    def replies_to(self, message_id: str) -> list[SandboxMessage]:
        return [m for m in self.messages.values() if m.reply_to == message_id]

    def record_user_message(self, message_id: str, *, chat_id: str, sender: str, text: str) -> None:
        """A message typed outside the emulator (tests post events themselves), so replies to it resolve."""
        message = SandboxMessage(message_id, chat_id, sender, "text", {"text": text}, self.clock.timestamp())
        self.messages[message_id] = message
        self._publish("new", message)

    def withdraw(self, message_id: str) -> None:
        """The sender recalls a message (Feishu's 撤回): it can no longer be patched or replied to."""
        self.withdrawn.add(message_id)

    def _new_message(self, **fields: Any) -> SandboxMessage:
        message = SandboxMessage(message_id=f"om_{next(self._seq):08d}{secrets.token_hex(4)}", **fields)
        self.messages[message.message_id] = message
        self._publish("new", message)
        return message

    # Delivering events to the bot ------------------------------------------------------------------------------
    def _envelope(self, event_type: str, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "schema": "2.0",
            "header": {
                "event_id": uuid.uuid4().hex,
                "token": self.target.verification_token if self.target else "",
                "create_time": str(int(self.clock.timestamp() * 1000)),
                "event_type": event_type,
                "tenant_key": "sandbox-tenant",
                "app_id": self.app_id,
            },
            "event": event,
        }

    async def deliver(self, event_type: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Push an event down the long connection, or POST it encrypted and signed; returns (status, answer body)."""
        envelope = self._envelope(event_type, event)
        if self.longconn is not None and self.longconn.subscribed:
            return await self.longconn.deliver(envelope, card=event_type == "card.action.trigger")
        if event_type == "card.action.trigger":
            return await self._post(envelope)
        # Feishu pushes an event again, with the same event_id, when the bot did not answer in time or failed (the
        # bot drops a copy it already has); the sandbox does so at once, a few times, then says why it gave up.
        for attempt in range(1, EVENT_DELIVERY_ATTEMPTS + 1):
            try:
                status, answer = await self._post(envelope)
            except httpx.TransportError as exc:
                if attempt == EVENT_DELIVERY_ATTEMPTS:
                    raise EventNotDelivered(f"the bot did not answer the event: {exc!r}") from None
                continue
            if status < 500 or attempt == EVENT_DELIVERY_ATTEMPTS:
                return status, answer
        raise AssertionError("unreachable")

    async def _post(self, envelope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert self.target is not None, "no bot to deliver to"
        body = json.dumps(
            {"encrypt": encrypt(json.dumps(envelope, ensure_ascii=False), self.target.encrypt_key)}
        )
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        headers = {
            "Content-Type": "application/json",
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": signature(timestamp, nonce, self.target.encrypt_key, body.encode()),
        }
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(self.target.url, content=body.encode(), headers=headers)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return response.status_code, answer

    async def user_says(self, text: str, *, user: str, chat_id: str) -> SandboxMessage:
        """A person types `text` in a chat; in groups `@bot` (or a leading @hrbot) mentions the bot. `@name` of a
        persona is a mention in any chat, as Feishu's client turns a picked person into one, private chats included."""
        chat = self.directory.chat(chat_id)
        mentions = []
        shown = text
        if chat.chat_type == "group":
            for marker in ("@hrbot", "@bot"):
                if marker in shown:
                    shown = shown.replace(marker, "@_user_1")
            if "@_user_1" in shown:
                mentions.append(
                    {
                        "key": "@_user_1",
                        "id": {"open_id": BOT_OPEN_ID, "user_id": "", "union_id": ""},
                        "name": "hrbot",
                    }
                )
        for index, (marker, person) in enumerate(self.directory.mentioned_people(shown), start=2):
            key = f"@_user_{index}"
            shown = shown.replace(marker, key, 1)
            mentions.append({"key": key, "id": {"open_id": person.open_id}, "name": person.name})
        message = self._new_message(
            chat_id=chat_id,
            sender=user,
            msg_type="text",
            content={"text": text},
            created_at=self.clock.timestamp(),
        )
        event = {
            "sender": {"sender_id": {"open_id": user, "user_id": "", "union_id": ""}, "sender_type": "user"},
            "message": {
                "message_id": message.message_id,
                "root_id": "",
                "parent_id": "",
                "create_time": str(int(message.created_at * 1000)),
                "chat_id": chat_id,
                "chat_type": chat.chat_type,
                "message_type": "post" if "\n" in shown else "text",
                "content": json.dumps(
                    _as_post(shown) if "\n" in shown else {"text": shown}, ensure_ascii=False
                ),
                "mentions": mentions,
            },
        }
        await self.deliver("im.message.receive_v1", event)
        return message

    async def user_clicks(
        self,
        message_id: str,
        *,
        user: str,
        value: dict[str, Any],
        form_value: dict[str, Any] | None = None,
        option: str | None = None,
        tag: str = "button",
    ) -> dict[str, Any]:
        """A person acts on a card; the bot's answer (toast and/or card) is applied like Feishu applies it."""
        message = self.messages[message_id]
        action: dict[str, Any] = {"value": value, "tag": tag}
        clicked = _clicked_element(message.content, tag, value, submit=form_value is not None)
        if clicked is not None and clicked.get("name"):
            # Card callback doc: action.name is the name of the component the user acted on.
            action["name"] = clicked["name"]
        if form_value is not None:
            action["form_value"] = form_value
        if option is not None:
            action["option"] = option
        event = {
            "operator": {"open_id": user, "user_id": "", "union_id": ""},
            "token": f"c-{uuid.uuid4().hex}",
            "action": action,
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": message.chat_id},
        }
        started = time.monotonic()
        status, answer = await self.deliver("card.action.trigger", event)
        if time.monotonic() - started > self.callback_deadline:
            return self._callback_error(
                message_id, CALLBACK_TIMEOUT, "the callback was not answered within 3 s"
            )
        card = (answer.get("card") or {}).get("data") if isinstance(answer, dict) else None
        if status == 200 and isinstance(card, dict):
            try:
                validate_card(card)
                self._check_body_size(json.dumps({"card": card}, ensure_ascii=False).encode())
            except CardViolation as problem:
                return self._callback_error(message_id, problem.code, problem.msg)
            message.content = card
            message.version += 1
            self._publish("update", message)
        return {"status": status, **(answer if isinstance(answer, dict) else {})}

    def _callback_error(self, message_id: str, code: int, why: str) -> dict[str, Any]:
        """Feishu drops the answer and shows the user an error toast carrying the code; the card stays as it was."""
        self.callback_errors.append({"message_id": message_id, "code": code, "msg": why})
        return {
            "status": 200,
            "toast": {"type": "error", "content": f"出错了，请稍后重试（{code}）"},
            "error": code,
        }

    # Open API --------------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count_calls], client_max_size=10 * 1024 * 1024)
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_get("/open-apis/bot/v3/info", self._bot_info)
        app.router.add_post("/open-apis/im/v1/messages", self._send)
        app.router.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_post("/open-apis/im/v1/images", self._upload_image)
        app.router.add_post("/open-apis/im/v1/files", self._upload_file)
        app.router.add_get("/open-apis/im/v1/chats", self._chats)
        app.router.add_get("/open-apis/im/v1/chats/{chat_id}/members", self._chat_members)
        app.router.add_get("/open-apis/contact/v3/users/batch", self._users_batch)
        app.router.add_post("/open-apis/contact/v3/users/batch_get_id", self._user_ids_by_contact)
        app.router.add_get("/open-apis/contact/v3/users/find_by_department", self._users_by_department)
        app.router.add_get(
            "/open-apis/contact/v3/departments/{department_id}/children", self._department_children
        )
        for method, path, handler in self.extra_routes:
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _count_calls(self, request: web.Request, handler: Any) -> web.StreamResponse:
        unmatched = request.match_info.http_exception
        if unmatched is not None:
            # Feishu answers unknown paths and wrong methods in its {code, msg} shape, which lark-oapi parses.
            return _fail(unmatched.status, f"{unmatched.status} {unmatched.reason}", status=unmatched.status)
        route = (
            request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
        )
        self.api_calls[route] = self.api_calls.get(route, 0) + 1
        window = self.rate_windows.get(route)
        if window is not None and not window.admit():
            # Rate-limit doc (https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control):
            # HTTP 429, code 99991400, and headers saying the limit and the seconds until it resets.
            response = _fail(RATE_LIMITED, "request trigger frequency limit", status=429)
            response.headers["x-ogw-ratelimit-limit"] = str(window.per_second)
            response.headers["x-ogw-ratelimit-reset"] = str(window.reset_after())
            return response
        public = route.endswith(("tenant_access_token/internal", ENDPOINT_PATH))
        if not public and not self._authorised(request):
            return _fail(
                99991663, "Invalid access token for authorization. Please make a request with token attached."
            )
        return await handler(request)

    def limit(self, path: str, per_second: int) -> RateWindow:
        window = RateWindow(per_second)
        self.rate_windows[path] = window
        return window

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        expires = self.tokens.get(token)
        return expires is not None and expires > self.clock.timestamp()

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        body = await request.json()
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        now = self.clock.timestamp()
        token, expires = max(self.tokens.items(), key=lambda item: item[1], default=("", 0.0))
        if expires - now <= TOKEN_REUSE_MARGIN:
            token = f"t-{secrets.token_hex(16)}"
            expires = now + TOKEN_LIFETIME
            self.tokens[token] = expires
        return web.json_response(
            {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": int(expires - now)}
        )

    async def _bot_info(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "code": 0,
                "msg": "ok",
                "bot": {"open_id": BOT_OPEN_ID, "app_name": "hrbot", "activate_status": 2},
            }
        )

    async def _card_from(self, request: web.Request) -> tuple[dict[str, Any], Any] | web.Response:
        raw = await request.read()
        try:
            self._check_body_size(raw)
            body = json.loads(raw)
            content = json.loads(body["content"])
        except CardViolation as problem:
            return _fail(problem.code, problem.msg)
        except (ValueError, KeyError, TypeError):
            return _fail(230001, "invalid message content")
        uuid_ = body.get("uuid")
        if uuid_ is not None and len(str(uuid_)) > MAX_UUID_CHARS:
            return _fail(
                FIELD_INVALID, f"field validation failed: uuid is longer than {MAX_UUID_CHARS} characters"
            )
        if body.get("msg_type", "interactive") == "interactive" or request.method == "PATCH":
            try:
                validate_card(content)
            except CardViolation as problem:
                return _fail(problem.code, problem.msg)
        return body, content

    @staticmethod
    def _check_body_size(raw: bytes) -> None:
        if len(raw) > MAX_BODY_BYTES:
            raise _TooLong(len(raw))

    def _store_bot_message(
        self, body: dict[str, Any], content: Any, chat_id: str, *, reply_to: str | None = None
    ) -> web.Response:
        """A message the bot sends or replies with; a uuid seen before returns the first message (Feishu's dedup)."""
        key = body.get("uuid")
        if key and key in self._idempotency:
            return _ok({"message_id": self._idempotency[key], "chat_id": chat_id})
        message = self._new_message(
            chat_id=chat_id,
            sender=BOT_OPEN_ID,
            msg_type=body.get("msg_type", "interactive"),
            content=content,
            created_at=self.clock.timestamp(),
            reply_to=reply_to,
        )
        if key:
            self._idempotency[key] = message.message_id
        return _ok({"message_id": message.message_id, "chat_id": chat_id})

    async def _send(self, request: web.Request) -> web.Response:
        parsed = await self._card_from(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, content = parsed
        id_type = request.query.get("receive_id_type", "open_id")
        receive_id = str(body.get("receive_id", ""))
        try:
            chat_id = receive_id if id_type == "chat_id" else self.directory.p2p_chat_of(receive_id)
            self.directory.chat(chat_id)
        except KeyError:
            return _fail(230002, "the bot is not in the chat or the user is unknown")
        if body.get("msg_type") == "file" and (
            not isinstance(content, dict) or content.get("file_key") not in self.files
        ):
            return _fail(230001, "invalid file_key")
        if body.get("msg_type") == "file":
            # What a receiving client gets: the file's key and its name (im message content, file).
            content = {**content, "file_name": self.files[content["file_key"]][0]}
        return self._store_bot_message(body, content, chat_id)

    async def _reply(self, request: web.Request) -> web.Response:
        parent = self.messages.get(request.match_info["message_id"])
        if parent is None or parent.message_id in self.withdrawn:
            return _fail(MESSAGE_WITHDRAWN, "the message to reply to was withdrawn or does not exist")
        parsed = await self._card_from(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, content = parsed
        return self._store_bot_message(body, content, parent.chat_id, reply_to=parent.message_id)

    async def _patch(self, request: web.Request) -> web.Response:
        message = self.messages.get(request.match_info["message_id"])
        if message is None or message.sender != BOT_OPEN_ID or message.msg_type != "interactive":
            return _fail(MESSAGE_WITHDRAWN, "the message does not exist or is not the bot's card")
        if message.message_id in self.withdrawn:
            return _fail(MESSAGE_WITHDRAWN, "the message was withdrawn")
        if self.clock.timestamp() - message.created_at > UPDATE_WINDOW:
            return _fail(MESSAGE_TOO_OLD, "the message is older than 14 days and can no longer be updated")
        window = self._update_windows.setdefault(
            message.message_id, RateWindow(UPDATES_PER_MESSAGE_PER_SECOND)
        )
        if not window.admit():
            return _fail(
                MESSAGE_UPDATE_LIMITED, "the message is updated too often: at most 5 times per second"
            )
        parsed = await self._card_from(request)
        if isinstance(parsed, web.Response):
            return parsed
        _body, content = parsed
        message.content = content
        message.version += 1
        self._publish("update", message)
        return _ok()

    async def _upload_image(self, request: web.Request) -> web.Response:
        # Parts are read directly: lark-oapi sends the image as a file part without a filename, which
        # aiohttp's request.post() would turn into text.
        fields: dict[str, bytes] = {}
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if isinstance(part, BodyPartReader) and part.name:
                    fields[part.name] = await part.read()
        except (ValueError, AssertionError):
            return _fail(234001, "invalid image upload")
        if fields.get("image_type") != b"message" or "image" not in fields:
            return _fail(234001, "invalid image upload")
        data = fields["image"]
        if not data:
            return _fail(234001, "empty image")
        key = f"img_v3_{secrets.token_hex(8)}"
        self.images[key] = data
        return _ok({"image_key": key})

    async def _upload_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        name = str(form.get("file_name") or "")
        if form.get("file_type") not in FILE_TYPES or not name or not hasattr(upload, "file"):
            return _fail(234001, "invalid file upload")
        data = upload.file.read()
        if not data or len(data) > MAX_FILE_BYTES:
            return _fail(234001, "the file is empty or over 30 MB")
        key = f"file_v3_{secrets.token_hex(8)}"
        self.files[key] = (name, data)
        return _ok({"file_key": key})

    async def _chats(self, request: web.Request) -> web.Response:
        """The group chats the bot is in (https://open.feishu.cn/document/server-docs/group/chat/list): groups
        only, no private chats."""
        page_size = min(int(request.query.get("page_size", "20") or 20), 100)
        offset = int(request.query.get("page_token") or 0)
        groups = [c for c in self.directory.chats() if c.chat_type == "group"]
        page = groups[offset : offset + page_size]
        more = offset + page_size < len(groups)
        items = [
            {
                "chat_id": c.chat_id,
                "name": c.name,
                "description": "",
                "external": False,
                "chat_status": "normal",
            }
            for c in page
        ]
        return _ok({"items": items, "has_more": more, "page_token": str(offset + page_size) if more else ""})

    async def _chat_members(self, request: web.Request) -> web.Response:
        """Chat members (https://open.feishu.cn/document/server-docs/group/chat-member/get): 该接口不会返回群内的机器人
        成员 (people only), and the bot must be in the chat."""
        try:
            chat = self.directory.chat(request.match_info["chat_id"])
        except KeyError:
            return _fail(232011, "the bot is not in the chat")
        if request.query.get("member_id_type", "open_id") != "open_id":
            return _fail(232001, "only open_id is emulated")
        page_size = min(int(request.query.get("page_size", "20") or 20), 100)
        offset = int(request.query.get("page_token") or 0)
        people = [m for m in chat.members if m != BOT_OPEN_ID and self.directory.has_user(m)]
        page = people[offset : offset + page_size]
        more = offset + page_size < len(people)
        items = [
            {
                "member_id_type": "open_id",
                "member_id": m,
                "name": self.directory.person(m).name,
                "tenant_key": "",
            }
            for m in page
        ]
        return _ok(
            {
                "items": items,
                "has_more": more,
                "page_token": str(offset + page_size) if more else "",
                "member_total": len(people),
            }
        )

    async def _user_ids_by_contact(self, request: web.Request) -> web.Response:
        """Users by email or mobile (https://open.feishu.cn/document/server-docs/contact-v3/user/batch_get_id):
        at most 50 of each; a mobile without a country code is a mainland number; unknown ones come back without
        a user_id."""
        try:
            body = await request.json()
        except ValueError:
            return _fail(40001, "body is not JSON")
        emails, mobiles = body.get("emails") or [], body.get("mobiles") or []
        if (
            not isinstance(emails, list)
            or not isinstance(mobiles, list)
            or len(emails) > 50
            or len(mobiles) > 50
        ):
            return _fail(40001, "at most 50 emails and 50 mobiles")
        by_email = {email_of(p).casefold(): p for p in self.directory.people}
        by_mobile = {mobile_of(p): p for p in self.directory.people}
        found: list[dict[str, Any]] = []
        for email in emails:
            person = by_email.get(str(email).casefold())
            found.append({"email": email, **({"user_id": person.open_id} if person else {})})
        for mobile in mobiles:
            number = str(mobile) if str(mobile).startswith("+") else f"+86{mobile}"
            person = by_mobile.get(number)
            found.append({"mobile": mobile, **({"user_id": person.open_id} if person else {})})
        return _ok({"user_list": found})

    async def remove_bot(self, chat_id: str, *, operator: str) -> tuple[int, dict[str, Any]]:
        """Someone removes the bot from a group: it leaves the chat and gets im.chat.member.bot.deleted_v1."""
        name = self.directory.chat(chat_id).name
        self.directory.bot_removed_from.add(chat_id)
        event = {
            "chat_id": chat_id,
            "operator_id": {"open_id": operator, "user_id": "", "union_id": ""},
            "external": False,
            "operator_tenant_key": "sandbox-tenant",
            "name": name,
        }
        return await self.deliver("im.chat.member.bot.deleted_v1", event)

    async def _users_batch(self, request: web.Request) -> web.Response:
        ids = request.query.getall("user_ids", [])
        if len(ids) > 50:
            return _fail(40001, "at most 50 user_ids")
        items = [self.directory.user_json(i) for i in ids if self.directory.has_user(i)]
        return _ok({"items": items})

    async def _users_by_department(self, request: web.Request) -> web.Response:
        department_id = request.query.get("department_id", "0")
        page_size = min(int(request.query.get("page_size", "50") or 50), 50)
        offset = int(request.query.get("page_token") or 0)
        members = self.directory.members_of(department_id)
        page = members[offset : offset + page_size]
        more = offset + page_size < len(members)
        return _ok(
            {
                "items": [self.directory.user_json(u.open_id) for u in page],
                "has_more": more,
                "page_token": str(offset + page_size) if more else "",
            }
        )

    async def _department_children(self, request: web.Request) -> web.Response:
        department_id = request.match_info["department_id"]
        page_size = min(int(request.query.get("page_size", "50") or 50), 50)
        offset = int(request.query.get("page_token") or 0)
        children = self.directory.children_of(department_id)
        page = children[offset : offset + page_size]
        more = offset + page_size < len(children)
        return _ok(
            {
                "items": [
                    {
                        # As Feishu answers: the id of the requested type, and the company's own custom id.
                        "open_department_id": d.department_id,
                        "department_id": f"custom-{d.department_id}",
                        "name": d.name,
                        "parent_department_id": d.parent,
                    }
                    for d in page
                ],
                "has_more": more,
                "page_token": str(offset + page_size) if more else "",
            }
        )


class _TooLong(CardViolation):
    """The request body is over 30 KB (Feishu's 230025, 'content too long')."""

    def __init__(self, size: int) -> None:
        super().__init__("$", f"request body is {size} bytes, over the {MAX_BODY_BYTES}-byte limit")

    @property
    def code(self) -> int:
        return CONTENT_TOO_LONG

    @property
    def msg(self) -> str:
        return f"message content too long: {self.message}"


_MENTION_KEY = re.compile(r"(@_user_\d+)")


def _as_post(text: str) -> dict[str, Any]:
    """Feishu's client sends text with a line break as a post: one paragraph a line, mentions as `at` elements
    (https://open.feishu.cn/document/server-docs/im-v1/message-content-description/message_content)."""
    paragraphs = []
    for line in text.split("\n"):
        elements: list[dict[str, Any]] = []
        for part in _MENTION_KEY.split(line):
            if _MENTION_KEY.fullmatch(part):
                elements.append({"tag": "at", "user_id": part, "user_name": "", "style": []})
            elif part:
                elements.append({"tag": "text", "text": part, "style": []})
        paragraphs.append(elements)
    return {"title": "", "content": paragraphs}


def _clicked_element(card: Any, tag: str, value: dict[str, Any], *, submit: bool) -> dict[str, Any] | None:
    """The component a click came from: the form's submit button, or the one whose callback carries `value`."""
    if not isinstance(card, dict):
        return None
    for _path, element in walk(card):
        if element.get("tag") != tag:
            continue
        if submit and element.get("form_action_type") == "submit":
            callbacks = [b.get("value") for b in element.get("behaviors", []) if isinstance(b, dict)]
            if not callbacks or value in callbacks:
                return element
        elif not submit and any(
            isinstance(b, dict) and b.get("value") == value for b in element.get("behaviors", [])
        ):
            return element
    return None
