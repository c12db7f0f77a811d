"""Registration of commands, card actions, schedules, events and guards on feature routers; dispatch.

A feature builds a `Router` named after itself and registers listeners on it with decorators; the root `Dispatcher`
includes every feature's router, the way aiogram includes routers. Nothing in the core names a feature.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.routing.command_words import accepts, match_word
from bot.routing.context import (
    ActionContext,
    ActionHandler,
    CommandHandler,
    ErrorView,
    EventHandler,
    Guard,
    JobHandler,
    MessageContext,
    Setting,
)
from bot.routing.protocol import ActionResponse

if TYPE_CHECKING:
    from bot.lifecycle.services import Services
    from bot.routing.roles import Role

log = logging.getLogger("hrbot.router")


async def _guarded(guards: Sequence[Guard], ctx: Any) -> None:
    for guard in guards:
        await guard(ctx)


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    summary: str
    example: str
    handler: CommandHandler
    guards: tuple[Guard, ...] = ()
    # False for a command without arguments: `撤回同意` followed by anything but punctuation is not it.
    takes_args: bool = True
    # Whether text written straight after the word (`企业社保小米…`) is this command's argument; None: it never is.
    joined: Callable[[str], bool] | None = None
    # Roles help lists the command to, besides those its guards ask for (a command that checks the role itself).
    shown_to: tuple[Role, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def accepts(self, word: str, args: str, joined: bool) -> bool:
        """Whether a message starting with `word` followed by `args` is this command (`command_words`)."""
        return accepts(word, args, joined, takes_args=self.takes_args, joined_args=self.joined)

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
        self,
        name: str,
        *aliases: str,
        summary: str,
        example: str | None = None,
        guards: Sequence[Guard] = (),
        takes_args: bool = True,
        joined: Callable[[str], bool] | None = None,
        shown_to: Sequence[Role] = (),
    ) -> Callable[[CommandHandler], CommandHandler]:
        """`takes_args=False`: the command takes no argument. `joined`: whether text typed straight after the word,
        without a space or colon, is the command's argument (default: never). `shown_to`: roles help lists the
        command to when the handler, not a guard, checks them (who may run it does not change)."""
        if not takes_args and joined is not None:
            raise ValueError(f"command {name!r} takes no argument: nothing can be joined to it")

        def register(handler: CommandHandler) -> CommandHandler:
            self.commands.append(
                Command(
                    name,
                    aliases,
                    summary,
                    example or name,
                    handler,
                    tuple(guards),
                    takes_args,
                    joined,
                    tuple(shown_to),
                )
            )
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
        """(command, word, arguments) for a message: the command word it starts with, followed by a space or a
        colon, or joined to what its command takes (`command_words`); else no command, the first word and the rest."""
        found = match_word(
            text, self._commands, lambda word, args, joined: self._commands[word].accepts(word, args, joined)
        )
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
