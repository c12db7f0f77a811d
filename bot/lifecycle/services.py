"""The running bot's services, built once at start and handed to every handler and scheduled job, and the catalogue
of the running features that handlers may read (help lists the commands; 我的数据 asks every feature).

Nothing here imports the router or the features: the contexts hold the services, so the services may not know them.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_settings import BaseSettings

from bot.clock import Clock
from bot.config import Settings
from bot.feishu.client import FeishuClient
from bot.routing.roles import Role, Roles
from bot.state.store import Store
from bot.trust.consent import Notice
from bot.trust.ledger import Ledger
from bot.trust.personal_data import Held

if TYPE_CHECKING:
    from bot.state.scheduler import Scheduler

ModelT = TypeVar("ModelT", bound=BaseSettings)


@dataclass(frozen=True)
class CommandInfo:
    """A registered command as users see it; `feature` is the name of the router that registered it."""

    name: str
    aliases: tuple[str, ...]
    summary: str
    example: str
    feature: str
    # The roles the command's guards ask for (HR, managers, admins): help lists it only to those who have them.
    roles: tuple[Role, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class PersonalData:
    """How a feature answers for the personal data it keeps (PIPL's rights of access and deletion): `held` lists what
    it holds about an open_id; `erase` closes the person's open requests and dialogs (their cards say so) and deletes
    what is theirs, returning what it removed, in the words of `held`."""

    held: Callable[[Services, str], Awaitable[list[Held]]]
    erase: Callable[[Services, str], Awaitable[list[str]]]


@dataclass(frozen=True)
class Catalogue:
    """The running features as handlers may see them, built at start-up (`bot.lifecycle.features.build_catalogue`)."""

    commands: tuple[CommandInfo, ...] = ()
    notices: tuple[Notice, ...] = ()
    personal_data: tuple[PersonalData, ...] = ()

    def find_command(self, word: str) -> CommandInfo | None:
        return self._by_word.get(word.casefold())

    @functools.cached_property
    def roles_asked(self) -> frozenset[Role]:
        """Every role some command asks for (help checks each once per message)."""
        return frozenset(role for command in self.commands for role in command.roles)

    @functools.cached_property
    def _by_word(self) -> dict[str, CommandInfo]:
        """Each command word, casefolded, to the first command that has it (help asks for every 帮助)."""
        found: dict[str, CommandInfo] = {}
        for command in self.commands:
            for word in command.words:
                found.setdefault(word.casefold(), command)
        return found

    def first_command_of(self, feature: str) -> str | None:
        return next((c.name for c in self.commands if c.feature == feature), None)


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    feishu: FeishuClient
    # Loads a settings model (a feature's or a provider's) from the same sources as the core's.
    load_settings: Callable[[type[BaseSettings]], BaseSettings]
    bot_open_id: str = ""
    scheduler: Scheduler | None = None
    # Provider clients by name ("juhe", "tcredit"); features fetch theirs with `provider()`.
    providers: dict[str, Any] = field(default_factory=dict)
    catalogue: Catalogue = field(default_factory=Catalogue)
    # Counts of asynchronous work still to finish, by kind, read when /metrics is scraped (features add theirs).
    pending_probes: dict[str, Callable[[], Awaitable[int]]] = field(default_factory=dict)
    _models: dict[type[BaseSettings], BaseSettings] = field(default_factory=dict)
    _roles: Roles | None = None
    _ledger: Ledger | None = None

    @property
    def roles(self) -> Roles:
        """HR and managers (`bot.routing.roles`), one per process so the role chats' members are cached once."""
        if self._roles is None:
            self._roles = Roles(self.settings, self.feishu, self.clock)
        return self._roles

    @property
    def ledger(self) -> Ledger:
        """Billed provider calls: quotas, budgets, breaker, the ledger rows (`bot.trust.ledger`)."""
        if self._ledger is None:
            self._ledger = Ledger(self.store, self.settings, self.clock, self.roles)
        return self._ledger

    def local(self, moment: datetime | None = None) -> datetime:
        """`moment` (now, by the bot's clock, when omitted) in the bot's time zone, as users read times."""
        return (self.clock.now() if moment is None else moment).astimezone(self.settings.tz)

    def provider(self, name: str, factory: Callable[[Services], Any] | None = None) -> Any:
        """The named provider client, created on first use when a factory is given (one per process)."""
        if name not in self.providers and factory is not None:
            self.providers[name] = factory(self)
        return self.providers[name]

    def settings_of(self, model: type[ModelT]) -> ModelT:
        """A feature's or provider's settings, read once."""
        if model not in self._models:
            self._models[model] = self.load_settings(model)
        loaded = self._models[model]
        assert isinstance(loaded, model)
        return loaded
