"""Command and card-action registration, dispatch, and the contexts handlers receive.

Features build a `Router`, register listeners on it with decorators, and the root `Dispatcher` includes it,
the way aiogram includes routers: nothing in the core names a feature.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cards.common import ACTION_KEY, Card

if TYPE_CHECKING:
    from bot.runtime import Services

log = logging.getLogger("hrbot.router")


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


class ActionResponse(dict):
    """The synchronous answer to a card action: `{}` or a toast and/or a replacement card."""

    @classmethod
    def toast(cls, content: str, kind: str = "info", card: Card | None = None) -> ActionResponse:
        response = cls(toast={"type": kind, "content": content})
        if card is not None:
            response["card"] = {"type": "raw", "data": card}
        return response

    @classmethod
    def replace(cls, card: Card) -> ActionResponse:
        return cls(card={"type": "raw", "data": card})

    @property
    def card(self) -> Card | None:
        return self.get("card", {}).get("data")


@dataclass
class MessageContext:
    services: Services
    message: IncomingMessage
    command: str
    args: str

    @property
    def argv(self) -> list[str]:
        return self.args.split()

    @property
    def user(self) -> str:
        return self.message.sender_open_id

    async def reply(self, card: Card) -> str:
        """Reply in the thread of the user's message; returns the new message_id."""
        return await self.services.feishu.reply_card(self.message.message_id, card)

    async def send_private(self, card: Card, open_id: str | None = None) -> str:
        return await self.services.feishu.send_card(open_id or self.user, card, id_type="open_id")


@dataclass
class ActionContext:
    services: Services
    action: IncomingAction
    _late: list[Coroutine[Any, Any, Any]] = field(default_factory=list)

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
        self._late.append(work)


CommandHandler = Callable[[MessageContext], Awaitable[None]]
ActionHandler = Callable[[ActionContext], Awaitable[ActionResponse | None]]


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    summary: str
    example: str
    handler: CommandHandler

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[Command] = []
        self.actions: dict[str, ActionHandler] = {}
        self.startup: list[Callable[[Services], Awaitable[None]]] = []

    def command(
        self, name: str, *aliases: str, summary: str, example: str | None = None
    ) -> Callable[[CommandHandler], CommandHandler]:
        def register(handler: CommandHandler) -> CommandHandler:
            self.commands.append(Command(name, aliases, summary, example or name, handler))
            return handler

        return register

    def action(self, name: str) -> Callable[[ActionHandler], ActionHandler]:
        def register(handler: ActionHandler) -> ActionHandler:
            self.actions[name] = handler
            return handler

        return register

    def on_startup(
        self, hook: Callable[[Services], Awaitable[None]]
    ) -> Callable[[Services], Awaitable[None]]:
        """Run once the services are up (e.g. to schedule a recurring job)."""
        self.startup.append(hook)
        return hook


class Dispatcher:
    """The root: includes feature routers and finds the listener for a command word or an action name."""

    def __init__(self) -> None:
        self.routers: list[Router] = []
        self._commands: dict[str, Command] = {}
        self._actions: dict[str, ActionHandler] = {}
        self.fallback: CommandHandler | None = None

    def include(self, *routers: Router) -> None:
        for router in routers:
            for command in router.commands:
                for word in command.words:
                    key = word.casefold()
                    if key in self._commands:
                        raise ValueError(f"command {word!r} registered twice")
                    self._commands[key] = command
            for name, handler in router.actions.items():
                if name in self._actions:
                    raise ValueError(f"card action {name!r} registered twice")
                self._actions[name] = handler
            self.routers.append(router)

    @property
    def commands(self) -> list[Command]:
        return [command for router in self.routers for command in router.commands]

    def find_command(self, word: str) -> Command | None:
        return self._commands.get(word.casefold())

    def find_action(self, name: str) -> ActionHandler | None:
        return self._actions.get(name)

    async def run_startup(self, services: Services) -> None:
        for router in self.routers:
            for hook in router.startup:
                await hook(services)


def split_command(text: str) -> tuple[str, str]:
    """First word is the command, the rest (trimmed) its arguments; any Unicode space separates."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""
