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
    TENANT_KEY,
    UPDATE_WINDOW,
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


# What Feishu's desktop client reports as user_agent in a message event (im.message.receive_v1: message.user_agent).
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Lark/7.30.7 "
    "LarkLocale/zh_CN ttnet SDK-Version/7.30.7"
)


class EventNotDelivered(Exception):
    """Every push of an event to the bot failed."""


class EventsApi(EmulatorState):
    # Delivering events to the bot ------------------------------------------------------------------------------
    def _envelope(self, event_type: str, event: dict[str, Any]) -> dict[str, Any]:
        # Event docs give header.create_time in milliseconds; the card callback doc's example is in microseconds.
        unit = 1_000_000 if event_type == "card.action.trigger" else 1000
        return {
            "schema": "2.0",
            "header": {
                "event_id": uuid.uuid4().hex,
                "token": self.target.verification_token if self.target else "",
                "create_time": str(int(self.clock.timestamp() * unit)),
                "event_type": event_type,
                "tenant_key": TENANT_KEY,
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
        persona is a mention in any chat, as Feishu's client turns a picked person into one, private chats included.
        Mentions are keyed @_user_1, @_user_2… in the order they appear in the text, the bot among them (FEISHU.md)."""
        chat = self.directory.chat(chat_id)
        markers = {f"@{p.name}": p.open_id for _marker, p in self.directory.mentioned_people(text)}
        if chat.chat_type == "group":
            markers |= {"@hrbot": BOT_OPEN_ID, "@bot": BOT_OPEN_ID}
        mentions: list[dict[str, Any]] = []

        def key_for(found: re.Match[str]) -> str:
            key = f"@_user_{len(mentions) + 1}"
            mentions.append({"key": key, **self._mentioned(markers[found.group()])})
            return key

        pattern = "|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True))
        shown = re.sub(pattern, key_for, text) if markers else text
        message = self._new_message(
            chat_id=chat_id,
            sender=user,
            msg_type="text",
            content={"text": text},
            created_at=self.clock.timestamp(),
        )
        millis = str(int(message.created_at * 1000))
        event = {
            "sender": {"sender_id": self._ids(user), "sender_type": "user", "tenant_key": TENANT_KEY},
            "message": {
                "message_id": message.message_id,
                "root_id": "",
                "parent_id": "",
                "create_time": millis,
                "update_time": millis,
                "chat_id": chat_id,
                "chat_type": chat.chat_type,
                "message_type": "post" if "\n" in shown else "text",
                "content": json.dumps(
                    _as_post(shown) if "\n" in shown else {"text": shown}, ensure_ascii=False
                ),
                "mentions": mentions,
                "user_agent": USER_AGENT,
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
        input_value: str | None = None,
        tag: str = "button",
    ) -> dict[str, Any]:
        """A person acts on a card; the bot's answer (toast and/or card) is applied like Feishu applies it. A card
        older than 14 days takes no action (JSON 2.0 breaking-changes page: 卡片可交互和可更新时间统一为 14 天): the
        click is not delivered and the user is told."""
        message = self.messages[message_id]
        if self.clock.timestamp() - message.created_at > UPDATE_WINDOW:
            self.expired_clicks.append(message_id)
            return {
                "status": 0,
                "toast": {"type": "error", "content": "卡片已过期，无法操作"},
                "expired": True,
            }
        # Card callback doc: action.timezone is the user's time zone.
        action: dict[str, Any] = {"value": value, "tag": tag, "timezone": "Asia/Shanghai"}
        clicked = _clicked_element(message.content, tag, value, submit=form_value is not None)
        if clicked is not None and clicked.get("name"):
            # Card callback doc: action.name is the name of the component the user acted on.
            action["name"] = clicked["name"]
        if form_value is not None:
            action["form_value"] = form_value
        if option is not None:
            action["option"] = option
        if input_value is not None:
            action["input_value"] = input_value
        event = {
            "operator": {**self._ids(user), "tenant_key": TENANT_KEY},
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
        if self.while_answer_travels is not None:
            await self.while_answer_travels()
        card = (answer.get("card") or {}).get("data") if isinstance(answer, dict) else None
        if status == 200 and isinstance(card, dict):
            try:
                validate_card(card, known_user=self.directory.has_user, known_image=self.images.__contains__)
                self._check_body_size(json.dumps({"card": card}, ensure_ascii=False).encode())
            except CardViolation as problem:
                return self._callback_error(message_id, problem.code, problem.msg)
            message.content = card
            message.version += 1
            self._publish("update", message)
        return {"status": status, **(answer if isinstance(answer, dict) else {})}

    def _ids(self, open_id: str) -> dict[str, str]:
        """A person's three ids, as events name a sender, an operator or a mentioned person."""
        if not self.directory.has_user(open_id):
            return {"open_id": open_id, "user_id": "", "union_id": ""}
        user = self.directory.user_json(open_id)
        return {"open_id": open_id, "user_id": str(user["user_id"]), "union_id": str(user["union_id"])}

    def _mentioned(self, open_id: str) -> dict[str, Any]:
        bot = open_id == BOT_OPEN_ID
        name = "hrbot" if bot else self.directory.person(open_id).name
        return {
            "id": self._ids(open_id),
            "mentioned_type": "bot" if bot else "user",
            "name": name,
            "tenant_key": TENANT_KEY,
        }

    def _callback_error(self, message_id: str, code: int, why: str) -> dict[str, Any]:
        """Feishu drops the answer and shows the user an error toast carrying the code; the card stays as it was."""
        self.callback_errors.append({"message_id": message_id, "code": code, "msg": why})
        return {
            "status": 200,
            "toast": {"type": "error", "content": f"出错了，请稍后重试（{code}）"},
            "error": code,
        }

    async def add_bot(self, chat_id: str, *, operator: str) -> tuple[int, dict[str, Any]]:
        """Someone adds the bot to a group: im.chat.member.bot.added_v1
        (https://open.feishu.cn/document/server-docs/group/chat-member/event/added-2)."""
        self.directory.bot_removed_from.discard(chat_id)
        event = {
            "chat_id": chat_id,
            "operator_id": self._ids(operator),
            "external": False,
            "operator_tenant_key": TENANT_KEY,
            "name": self.directory.chat(chat_id).name,
        }
        return await self.deliver("im.chat.member.bot.added_v1", event)

    async def user_opens_private_chat(self, user: str) -> tuple[int, dict[str, Any]]:
        """A person opens their private chat with the bot: im.chat.access_event.bot_p2p_chat_entered_v1
        (https://open.feishu.cn/document/server-docs/im-v1/chat/events/bot_p2p_chat_entered_v1)."""
        event = {
            "chat_id": self.directory.p2p_chat_of(user),
            "operator_id": self._ids(user),
            "last_message_id": "",
            "last_message_create_time": "",
        }
        return await self.deliver("im.chat.access_event.bot_p2p_chat_entered_v1", event)

    async def remove_bot(self, chat_id: str, *, operator: str) -> tuple[int, dict[str, Any]]:
        """Someone removes the bot from a group: it leaves the chat and gets im.chat.member.bot.deleted_v1."""
        name = self.directory.chat(chat_id).name
        self.directory.bot_removed_from.add(chat_id)
        event = {
            "chat_id": chat_id,
            "operator_id": self._ids(operator),
            "external": False,
            "operator_tenant_key": TENANT_KEY,
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
