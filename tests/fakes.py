"""Small stand-ins for unit tests that need no running bot: a Feishu client that records what it is asked to send,
a dedup store, services around them, and the messages and clicks handlers receive."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock
from bot.config import Settings, SettingsModel, load_settings
from bot.lifecycle.features import build_catalogue
from bot.lifecycle.services import Services
from bot.routing.context import ActionContext, IncomingAction, IncomingMessage, MessageContext
from bot.routing.protocol import Card
from bot.routing.router import Dispatcher

USER = "ou_user"
HR = "ou_hr"
MANAGER = "ou_manager"
P2P = "oc_p2p_user"
GROUP = "oc_group"


@dataclass
class Sent:
    how: str  # "reply" (in the thread of a message) or "send" (to a chat or a user's private chat)
    to: str  # the message replied to, or the receive id
    card: Card
    id_type: str = ""


@dataclass
class FakeFeishu:
    sent: list[Sent] = field(default_factory=list)
    patched: list[tuple[str, Card]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def reply_card(self, message_id: str, card: Card, *, chat_id: str | None = None) -> str:
        self.sent.append(Sent("reply", message_id, card))
        return f"om_bot_{next(self._ids)}"

    async def send_card(
        self, receive_id: str, card: Card, *, id_type: str = "chat_id", idempotency_key: str | None = None
    ) -> str:
        self.sent.append(Sent("send", receive_id, card, id_type))
        return f"om_bot_{next(self._ids)}"

    async def patch_card(self, message_id: str, card: Card) -> None:
        self.patched.append((message_id, card))


class FakeStore:
    """Dedup only: every key is new once."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def claim(self, keys: list[str]) -> bool:
        fresh = not (set(keys) & self.keys)
        self.keys.update(keys)
        return fresh


def core_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def fake_services(
    dispatcher: Dispatcher | None = None,
    *,
    settings: Settings | None = None,
    feature_settings: Mapping[str, Any] | None = None,
    feishu: FakeFeishu | None = None,
) -> Services:
    """Services with a recording Feishu and an in-memory dedup store; `feature_settings` feed settings models."""

    def load(model: type[SettingsModel]) -> SettingsModel:
        return load_settings(model, env_file=None, overrides=feature_settings or {})

    return Services(
        settings=settings or core_settings(),
        clock=Clock(),
        store=FakeStore(),  # type: ignore[arg-type]
        feishu=feishu or FakeFeishu(),  # type: ignore[arg-type]
        catalogue=build_catalogue((), dispatcher or Dispatcher()),
        load_settings=load,  # type: ignore[arg-type]
    )


def incoming_message(
    text: str = "", *, user: str = USER, chat_id: str = P2P, chat_type: str = "p2p"
) -> IncomingMessage:
    return IncomingMessage(
        event_id="ev_1",
        message_id="om_asked",
        chat_id=chat_id,
        chat_type=chat_type,
        sender_open_id=user,
        message_type="text",
        text=text,
    )


def message_context(services: Services, *, user: str = USER, group: bool = False) -> MessageContext:
    message = (
        incoming_message(user=user, chat_id=GROUP, chat_type="group")
        if group
        else incoming_message(user=user)
    )
    return MessageContext(services, message, command="test", args="")


def action_context(services: Services, action: str = "demo.go", *, user: str = USER) -> ActionContext:
    incoming = IncomingAction(
        event_id="ev_click",
        operator_open_id=user,
        value={"action": action},
        form_value={},
        option=None,
        input_value=None,
        open_message_id="om_card",
        open_chat_id=GROUP,
        token="c-token",
    )
    return ActionContext(services, incoming)
