"""The plain types a handler receives and is registered with: the incoming message or card action, the contexts
(`MessageContext`, `ActionContext`) and the signatures of guards and handlers.

The bottom of routing: the router, the guards and every feature import these; this module imports neither of them,
so no circle runs through the core.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.feishu.client import MessageGone
from bot.routing.protocol import ACTION_KEY, ActionResponse, Card

if TYPE_CHECKING:
    from bot.lifecycle.services import Services


@dataclass(frozen=True)
class Mention:
    key: str
    open_id: str
    name: str


@dataclass(frozen=True)
class IncomingMessage:
    event_id: str
    message_id: str
    chat_id: str
    chat_type: str  # "p2p" | "group"
    sender_open_id: str
    message_type: str
    text: str  # mentions stripped
    mentions: tuple[Mention, ...] = ()

    @property
    def is_private(self) -> bool:
        return self.chat_type == "p2p"


@dataclass(frozen=True)
class IncomingAction:
    event_id: str
    operator_open_id: str
    value: dict[str, Any]
    form_value: dict[str, Any]
    option: str | None
    input_value: str | None
    open_message_id: str
    open_chat_id: str
    token: str

    @property
    def action(self) -> str:
        return str(self.value.get(ACTION_KEY, ""))


@dataclass
class MessageContext:
    services: Services
    message: IncomingMessage
    command: str
    args: str
    private: bool = False  # set by the `private_only` guard: replies go to the asker's private chat

    @property
    def argv(self) -> list[str]:
        return self.args.split()

    @property
    def user(self) -> str:
        return self.message.sender_open_id

    async def reply(self, card: Card) -> str:
        """Reply in the thread of the user's message (or privately, see `move_private`); returns the message_id."""
        if self.private:
            return await self.send_private(card)
        try:
            return await self.services.feishu.reply_card(
                self.message.message_id, card, chat_id=self.message.chat_id
            )
        except MessageGone:
            # The user recalled the message meanwhile: the answer goes into the chat instead.
            return await self.services.feishu.send_card(self.message.chat_id, card)

    def move_private(self) -> None:
        self.private = True

    async def send_private(self, card: Card, open_id: str | None = None) -> str:
        return await self.services.feishu.send_card(open_id or self.user, card, id_type="open_id")


@dataclass
class ActionContext:
    services: Services
    action: IncomingAction
    late: list[Coroutine[Any, Any, Any]] = field(default_factory=list)

    @property
    def user(self) -> str:
        return self.action.operator_open_id

    @property
    def value(self) -> dict[str, Any]:
        return self.action.value

    @property
    def form(self) -> dict[str, Any]:
        return self.action.form_value

    async def patch(self, card: Card, message_id: str | None = None) -> str:
        """Update the card (the clicked one by default); if Feishu no longer lets it change, the clicked card's
        update goes to its chat as a new message. Returns the id of the message showing the card."""
        target = message_id or self.action.open_message_id
        resend_to = self.action.open_chat_id if target == self.action.open_message_id else None
        return await self.services.feishu.patch_card(target, card, resend_to=resend_to)

    def after_answer(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` once the callback has been answered (slow work; patch the card when done)."""
        self.late.append(work)

    def move_private(self) -> None:
        """A click is answered where it happened: nothing to move."""


CommandHandler = Callable[[MessageContext], Awaitable[None]]
ActionHandler = Callable[[ActionContext], Awaitable[ActionResponse | None]]
JobHandler = Callable[..., Awaitable[Any]]
ErrorView = Callable[[str, str], Card]
# A schedule's value may depend on settings (a configured cron, a poll interval): then it is read at start.
Setting = Callable[["Services"], Any]


Context = MessageContext | ActionContext
# Checked before a handler runs; raises a `Refusal` to stop it (bot/routing/guards.py builds the usual ones).
Guard = Callable[[Context], Awaitable[None]]
# Any other event type (e.g. im.chat.member.bot.deleted_v1): the services and the envelope's `event` object.
EventHandler = Callable[["Services", dict[str, Any]], Awaitable[None]]
