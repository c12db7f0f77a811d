"""Events and card callbacks (https://open.feishu.cn/document/server-docs/event-subscription-guide/overview,
https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/card-callback-communication).

What people do, delivered to the bot as Feishu delivers it: a typed message (im.message.receive_v1, with mentions, and
a post for multi-line text), a card action (card.action.trigger, whose answer is applied, or shown as an error toast
as Feishu would), the bot removed from a group; down the long connection when subscribed, else POSTed encrypted and
signed to the callback URL and pushed again when the bot fails.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from typing import Any

import httpx

from bot.ingress.crypto import encrypt, signature
from bot.sandbox.card_rules import CardViolation, validate_card, walk
from bot.sandbox.directory import BOT_OPEN_ID
from bot.sandbox.feishu.common import (
    EmulatorState,
    SandboxMessage,
)

# Event subscription doc: an event not answered with HTTP 200 within 3 s is pushed again (15 s, 5 min, 1 h, 6 h
# later); the sandbox pushes again at once.
EVENT_DELIVERY_ATTEMPTS = 3
# What users report seeing when a card callback is not answered in time (unverified: no public doc lists it).
CALLBACK_TIMEOUT = 200671
# The error a client shows for a callback answered with a card Feishu cannot build (unverified, as users report it).
CALLBACK_BAD_CARD = 200672


class EventNotDelivered(Exception):
    """Every push of an event to the bot failed."""


class EventsApi(EmulatorState):
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
