"""Registration of commands, card actions, schedules and guards; dispatch; the contexts handlers receive.

A feature builds a `Router` named after itself and registers listeners on it with decorators; the root `Dispatcher`
includes every feature's router, the way aiogram includes routers. Nothing in the core names a feature.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.command_words import match_word
from bot.feishu import MessageGone
from bot.guards import Guard
from bot.protocol import ACTION_KEY, ActionResponse, Card

if TYPE_CHECKING:
    from bot.services import Services

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
            return await self.services.feishu.reply_card(self.message.message_id, card)
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


async def _guarded(guards: Sequence[Guard], ctx: Any) -> None:
    for guard in guards:
        await guard(ctx)


# Any other event type (e.g. im.chat.member.bot.deleted_v1): the services and the envelope's `event` object.
EventHandler = Callable[["Services", dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    summary: str
    example: str
    handler: CommandHandler
    guards: tuple[Guard, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    async def run(self, ctx: MessageContext) -> None:
        await _guarded(self.guards, ctx)
        await self.handler(ctx)


@dataclass(frozen=True)
class Action:
    id: str
    handler: ActionHandler
    guards: tuple[Guard, ...] = ()

    async def run(self, ctx: ActionContext) -> ActionResponse | None:
        await _guarded(self.guards, ctx)
        return await self.handler(ctx)


@dataclass(frozen=True)
class Schedule:
    """A job the scheduler runs: recurring (`every` / `cron`) or one-off targets (`job`), stored by `id`."""

    id: str
    handler: JobHandler
    every: timedelta | Setting | None = None
    cron: str | Setting | None = None
    # The import path a job store of an older version holds for this job (see `Scheduler.adopt`).
    legacy: str | None = None

    def value(self, services: Services) -> Any:
        spec = self.every if self.every is not None else self.cron
        return spec(services) if callable(spec) else spec


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[Command] = []
        self.actions: dict[str, Action] = {}
        self.schedules: dict[str, Schedule] = {}
        self.events: dict[str, EventHandler] = {}
        self.startup: list[Callable[[Services], Awaitable[None]]] = []
        self.fallback: CommandHandler | None = None
        self.error_view: ErrorView | None = None

    def qualified(self, name: str) -> str:
        """Action and job ids carry the feature's name: `four_factors.verify`."""
        return f"{self.name}.{name}"

    def command(
        self, name: str, *aliases: str, summary: str, example: str | None = None, guards: Sequence[Guard] = ()
    ) -> Callable[[CommandHandler], CommandHandler]:
        def register(handler: CommandHandler) -> CommandHandler:
            self.commands.append(Command(name, aliases, summary, example or name, handler, tuple(guards)))
            return handler

        return register

    def action(
        self, name: str, *, aliases: Sequence[str] = (), guards: Sequence[Guard] = ()
    ) -> Callable[[ActionHandler], ActionHandler]:
        """`aliases`: full ids this action had before (buttons on cards already in chats stay clickable)."""

        def register(handler: ActionHandler) -> ActionHandler:
            action = Action(self.qualified(name), handler, tuple(guards))
            ids = (action.id, *aliases)
            for action_id in ids:
                if action_id in self.actions:
                    raise ValueError(f"card action {action_id!r} registered twice")
            for action_id in ids:
                self.actions[action_id] = action
            return handler

        return register

    def every(
        self, interval: timedelta | Setting, *, id: str, legacy: str | None = None
    ) -> Callable[[JobHandler], JobHandler]:
        """A recurring job; it receives the services."""
        return self._schedule(id, every=interval, legacy=legacy)

    def cron(
        self, expression: str | Setting, *, id: str, legacy: str | None = None
    ) -> Callable[[JobHandler], JobHandler]:
        """A job on a standard crontab (0 or 7 = Sunday) in the bot's time zone; it receives the services."""
        return self._schedule(id, cron=expression, legacy=legacy)

    def job(self, *, id: str, legacy: str | None = None) -> Callable[[JobHandler], JobHandler]:
        """A job target scheduled at run time (`services.scheduler.at(...)`), with the arguments given then."""
        return self._schedule(id, legacy=legacy)

    def _schedule(self, name: str, **spec: Any) -> Callable[[JobHandler], JobHandler]:
        def register(handler: JobHandler) -> JobHandler:
            schedule = Schedule(self.qualified(name), handler, **spec)
            if schedule.id in self.schedules:
                raise ValueError(f"job {schedule.id!r} registered twice")
            self.schedules[schedule.id] = schedule
            return handler

        return register

    def event(self, event_type: str) -> Callable[[EventHandler], EventHandler]:
        def register(handler: EventHandler) -> EventHandler:
            self.events[event_type] = handler
            return handler

        return register

    def on_startup(
        self, hook: Callable[[Services], Awaitable[None]]
    ) -> Callable[[Services], Awaitable[None]]:
        """Run once the services are up."""
        self.startup.append(hook)
        return hook

    def on_fallback(self, handler: CommandHandler) -> CommandHandler:
        """Answers what no command matches: an unknown word, an empty message, a message that is not text."""
        self.fallback = handler
        return handler

    def on_error(self, view: ErrorView) -> ErrorView:
        """Builds the card that shows a user-facing error (title, message) in answer to a message."""
        self.error_view = view
        return view


class Dispatcher:
    """The root: includes feature routers and finds the listener for a command word, an action id or a job id."""

    def __init__(self) -> None:
        self.routers: list[Router] = []
        self._commands: dict[str, Command] = {}
        self._actions: dict[str, Action] = {}
        self.schedules: dict[str, Schedule] = {}
        self._events: dict[str, EventHandler] = {}
        self.fallback: CommandHandler | None = None
        self.error_view: ErrorView | None = None

    def include(self, *routers: Router) -> None:
        for router in routers:
            for command in router.commands:
                for word in command.words:
                    key = word.casefold()
                    if key in self._commands:
                        raise ValueError(f"command {word!r} registered twice")
                    self._commands[key] = command
            for action_id, action in router.actions.items():
                if action_id in self._actions:
                    raise ValueError(f"card action {action_id!r} registered twice")
                self._actions[action_id] = action
            for job_id, schedule in router.schedules.items():
                if job_id in self.schedules:
                    raise ValueError(f"job {job_id!r} registered twice")
                self.schedules[job_id] = schedule
            for hook in ("fallback", "error_view"):
                if getattr(router, hook) is not None:
                    if getattr(self, hook) is not None:
                        raise ValueError(f"a second {hook} from router {router.name!r}")
                    setattr(self, hook, getattr(router, hook))
            for event_type, event_handler in router.events.items():
                if event_type in self._events:
                    raise ValueError(f"event {event_type!r} registered twice")
                self._events[event_type] = event_handler
            self.routers.append(router)

    @property
    def commands(self) -> list[Command]:
        return [command for router in self.routers for command in router.commands]

    def find_command(self, word: str) -> Command | None:
        return self._commands.get(word.casefold())

    def match(self, text: str) -> tuple[Command | None, str, str]:
        """(command, word, arguments) for a message: the command word it starts with, with or without a space or a
        colon after it; else no command, the first word and the rest."""
        found = match_word(text, self._commands)
        if found is None:
            return None, *split_command(text)
        word, args = found
        return self._commands[word], word, args

    def find_action(self, action_id: str) -> Action | None:
        return self._actions.get(action_id)

    def find_event(self, event_type: str) -> EventHandler | None:
        return self._events.get(event_type)

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
