"""Messages (https://open.feishu.cn/document/server-docs/im-v1/message/create, …/reply, …/message-card/patch).

Sends, replies and patches of the bot's messages, checked as Feishu checks them (body size, uuid, card rules, the
14-day and 5-per-second update limits, withdrawn messages) and stored, with the observing side tests and the console
use: subscriptions to new and updated messages, the bot's messages in a chat, the replies to a message.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from aiohttp import web

from bot.sandbox.card_rules import CardViolation, validate_card
from bot.sandbox.directory import BOT_OPEN_ID
from bot.sandbox.feishu.common import (
    FIELD_INVALID,
    MAX_BODY_BYTES,
    MAX_UUID_CHARS,
    MESSAGE_TOO_OLD,
    MESSAGE_UPDATE_LIMITED,
    MESSAGE_WITHDRAWN,
    TENANT_KEY,
    UPDATE_WINDOW,
    UPDATES_PER_MESSAGE_PER_SECOND,
    UUID_WINDOW_SECONDS,
    EmulatorState,
    RateWindow,
    Route,
    SandboxMessage,
    TooLong,
    fail,
    ok,
)

# Send message doc: 文本消息请求体最大不能超过 150 KB.
MAX_TEXT_BODY_BYTES = 150 * 1024
# Send message doc: 给同一用户发消息的限频为 5 QPS、给同一群组发消息的限频为群内机器人共享 5 QPS.
SENDS_PER_CHAT_PER_SECOND = 5
RECEIVE_ID_TYPES = frozenset({"open_id", "user_id", "union_id", "email"})
# "These ids not existed" per id type, as Feishu's general error codes list them (unverified which code each type gets).
ID_NOT_FOUND = {"open_id": 99992351, "user_id": 99992352, "union_id": 99992353, "email": 99992354}
# Update message doc: updating a card that is not shared (update_multi) is refused (code as users report it).
NOT_SHARED_CARD = 230099


def routes(api: MessagesApi) -> list[Route]:
    return [
        ("POST", "/open-apis/im/v1/messages", api._send),
        ("POST", "/open-apis/im/v1/messages/{message_id}/reply", api._reply),
        ("PATCH", "/open-apis/im/v1/messages/{message_id}", api._patch),
    ]


class MessagesApi(EmulatorState):
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

    async def _card_from(self, request: web.Request) -> tuple[dict[str, Any], Any] | web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
            content = json.loads(body["content"])
            msg_type = body.get("msg_type", "interactive")
            # Send message doc: 文本消息请求体最大不能超过 150 KB；卡片及富文本消息请求体最大不能超过 30 KB.
            if msg_type == "text" and request.method != "PATCH":
                if len(raw) > MAX_TEXT_BODY_BYTES:
                    raise TooLong(len(raw), MAX_TEXT_BODY_BYTES)
            else:
                self._check_body_size(raw)
        except CardViolation as problem:
            return fail(problem.code, problem.msg)
        except (ValueError, KeyError, TypeError):
            return fail(230001, "invalid message content")
        uuid_ = body.get("uuid")
        if uuid_ is not None and len(str(uuid_)) > MAX_UUID_CHARS:
            return fail(
                FIELD_INVALID, f"field validation failed: uuid is longer than {MAX_UUID_CHARS} characters"
            )
        if msg_type == "interactive" or request.method == "PATCH":
            try:
                validate_card(
                    content, known_user=self.directory.has_user, known_image=self.images.__contains__
                )
            except CardViolation as problem:
                return fail(problem.code, problem.msg)
        return body, content

    @staticmethod
    def _check_body_size(raw: bytes) -> None:
        if len(raw) > MAX_BODY_BYTES:
            raise TooLong(len(raw))

    def _throttled(self, chat_id: str) -> web.Response | None:
        """Send message doc: 给同一用户发消息的限频为 5 QPS、给同一群组发消息的限频为群内机器人共享 5 QPS (230020 beyond it).
        A user's limit is their private chat's with the bot, so both are kept per chat."""
        window = self._send_windows.get(chat_id)
        if window is None:
            window = self._send_windows[chat_id] = RateWindow(
                SENDS_PER_CHAT_PER_SECOND, lambda: self.rate_clock()
            )
        if window.admit():
            return None
        return fail(
            MESSAGE_UPDATE_LIMITED,
            "request trigger frequency limit: at most 5 messages per second to one chat or user",
        )

    def _store_bot_message(
        self, body: dict[str, Any], content: Any, chat_id: str, *, reply_to: str | None = None
    ) -> web.Response:
        """A message the bot sends or replies with; a uuid seen before returns the first message (Feishu's dedup).
        Answered as Feishu answers: the whole Message (https://open.feishu.cn/document/server-docs/im-v1/message/create,
        response body)."""
        key = body.get("uuid")
        now = self.clock.timestamp()
        landed = self._idempotency.get(key) if key else None
        if landed is not None and now - landed[1] < UUID_WINDOW_SECONDS:
            return ok(self.message_json(self.messages[landed[0]]))
        message = self._new_message(
            chat_id=chat_id,
            sender=BOT_OPEN_ID,
            msg_type=body.get("msg_type", "interactive"),
            content=content,
            created_at=now,
            reply_to=reply_to,
        )
        if key:
            self._idempotency[key] = (message.message_id, now)
        return ok(self.message_json(message))

    def message_json(self, message: SandboxMessage) -> dict[str, Any]:
        """A message as the message API shows it (create / reply response body)."""
        millis = str(int(message.created_at * 1000))
        root = self.messages.get(message.reply_to or "")
        return {
            "message_id": message.message_id,
            "root_id": (root.reply_to or root.message_id) if root else "",
            "parent_id": message.reply_to or "",
            "thread_id": "",
            "msg_type": message.msg_type,
            "create_time": millis,
            "update_time": millis,
            "deleted": False,
            "updated": message.version > 1,
            "chat_id": message.chat_id,
            "sender": (
                {"id": self.app_id, "id_type": "app_id", "sender_type": "app", "tenant_key": TENANT_KEY}
                if message.sender == BOT_OPEN_ID
                else {
                    "id": message.sender,
                    "id_type": "open_id",
                    "sender_type": "user",
                    "tenant_key": TENANT_KEY,
                }
            ),
            "body": {"content": json.dumps(message.content, ensure_ascii=False)},
            "mentions": [],
            "upper_message_id": "",
        }

    def _receiving_chat(self, id_type: str, receive_id: str) -> str | web.Response:
        """The chat a send lands in. Send message doc: receive_id is of the type receive_id_type says (open_id,
        user_id, union_id, email or chat_id); an id of another type names no one, and Feishu refuses it."""
        if id_type == "chat_id":
            try:
                return self.directory.chat(receive_id).chat_id
            except KeyError:
                return fail(230002, "the bot is not in the chat")
        if id_type not in RECEIVE_ID_TYPES:
            return fail(
                FIELD_INVALID,
                f"field validation failed: receive_id_type {id_type!r} is not one of {sorted(RECEIVE_ID_TYPES)}",
            )
        person = self.directory.find(id_type, receive_id)
        if person is None:
            return fail(ID_NOT_FOUND[id_type], f"These ids not existed: {id_type} {receive_id}")
        try:
            return self.directory.chat(self.directory.p2p_chat_of(person.open_id)).chat_id
        except KeyError:
            return fail(230002, "the bot cannot reach the user")

    async def _send(self, request: web.Request) -> web.Response:
        parsed = await self._card_from(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, content = parsed
        chat_id = self._receiving_chat(
            request.query.get("receive_id_type", "open_id"), str(body.get("receive_id", ""))
        )
        if isinstance(chat_id, web.Response):
            return chat_id
        if body.get("msg_type") == "file" and (
            not isinstance(content, dict) or content.get("file_key") not in self.files
        ):
            return fail(230001, "invalid file_key")
        if body.get("msg_type") == "file":
            # What a receiving client gets: the file's key and its name (im message content, file).
            content = {**content, "file_name": self.files[content["file_key"]][0]}
        return self._throttled(chat_id) or self._store_bot_message(body, content, chat_id)

    async def _reply(self, request: web.Request) -> web.Response:
        parent = self.messages.get(request.match_info["message_id"])
        if parent is None or parent.message_id in self.withdrawn:
            return fail(MESSAGE_WITHDRAWN, "the message to reply to was withdrawn or does not exist")
        parsed = await self._card_from(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, content = parsed
        return self._throttled(parent.chat_id) or self._store_bot_message(
            body, content, parent.chat_id, reply_to=parent.message_id
        )

    async def _patch(self, request: web.Request) -> web.Response:
        message = self.messages.get(request.match_info["message_id"])
        if message is None or message.sender != BOT_OPEN_ID or message.msg_type != "interactive":
            return fail(MESSAGE_WITHDRAWN, "the message does not exist or is not the bot's card")
        if message.message_id in self.withdrawn:
            return fail(MESSAGE_WITHDRAWN, "the message was withdrawn")
        if self.clock.timestamp() - message.created_at > UPDATE_WINDOW:
            return fail(MESSAGE_TOO_OLD, "the message is older than 14 days and can no longer be updated")
        window = self._update_windows.setdefault(
            message.message_id, RateWindow(UPDATES_PER_MESSAGE_PER_SECOND)
        )
        if not window.admit():
            return fail(
                MESSAGE_UPDATE_LIMITED, "the message is updated too often: at most 5 times per second"
            )
        parsed = await self._card_from(request)
        if isinstance(parsed, web.Response):
            return parsed
        _body, content = parsed
        # Update message doc: only a shared card can be updated: the card sent and the new one both declare
        # "update_multi": true in config (https://open.feishu.cn/document/server-docs/im-v1/message-card/patch).
        for which, card in (("sent", message.content), ("new", content)):
            if not (isinstance(card, dict) and (card.get("config") or {}).get("update_multi") is True):
                return fail(
                    NOT_SHARED_CARD,
                    f"the {which} card is not a shared card: config.update_multi must be true",
                )
        message.content = content
        message.version += 1
        self._publish("update", message)
        return ok()
