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
    UPDATE_WINDOW,
    UPDATES_PER_MESSAGE_PER_SECOND,
    EmulatorState,
    RateWindow,
    Route,
    SandboxMessage,
    TooLong,
    fail,
    ok,
)


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
            self._check_body_size(raw)
            body = json.loads(raw)
            content = json.loads(body["content"])
        except CardViolation as problem:
            return fail(problem.code, problem.msg)
        except (ValueError, KeyError, TypeError):
            return fail(230001, "invalid message content")
        uuid_ = body.get("uuid")
        if uuid_ is not None and len(str(uuid_)) > MAX_UUID_CHARS:
            return fail(
                FIELD_INVALID, f"field validation failed: uuid is longer than {MAX_UUID_CHARS} characters"
            )
        if body.get("msg_type", "interactive") == "interactive" or request.method == "PATCH":
            try:
                validate_card(content)
            except CardViolation as problem:
                return fail(problem.code, problem.msg)
        return body, content

    @staticmethod
    def _check_body_size(raw: bytes) -> None:
        if len(raw) > MAX_BODY_BYTES:
            raise TooLong(len(raw))

    def _store_bot_message(
        self, body: dict[str, Any], content: Any, chat_id: str, *, reply_to: str | None = None
    ) -> web.Response:
        """A message the bot sends or replies with; a uuid seen before returns the first message (Feishu's dedup)."""
        key = body.get("uuid")
        if key and key in self._idempotency:
            return ok({"message_id": self._idempotency[key], "chat_id": chat_id})
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
        return ok({"message_id": message.message_id, "chat_id": chat_id})

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
            return fail(230002, "the bot is not in the chat or the user is unknown")
        if body.get("msg_type") == "file" and (
            not isinstance(content, dict) or content.get("file_key") not in self.files
        ):
            return fail(230001, "invalid file_key")
        return self._store_bot_message(body, content, chat_id)

    async def _reply(self, request: web.Request) -> web.Response:
        parent = self.messages.get(request.match_info["message_id"])
        if parent is None or parent.message_id in self.withdrawn:
            return fail(MESSAGE_WITHDRAWN, "the message to reply to was withdrawn or does not exist")
        parsed = await self._card_from(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, content = parsed
        return self._store_bot_message(body, content, parent.chat_id, reply_to=parent.message_id)

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
        message.content = content
        message.version += 1
        self._publish("update", message)
        return ok()
