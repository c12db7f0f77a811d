"""The running bot's services, built once at start and handed to every handler and scheduled job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_settings import BaseSettings

from bot.clock import Clock
from bot.config import Settings
from bot.feishu.client import FeishuClient
from bot.routing.roles import Roles
from bot.routing.router import Dispatcher
from bot.state.store import Store
from bot.trust.ledger import Ledger

if TYPE_CHECKING:
    from bot.lifecycle.features import Feature
    from bot.state.scheduler import Scheduler

ModelT = TypeVar("ModelT", bound=BaseSettings)


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    feishu: FeishuClient
    dispatcher: Dispatcher
    # Loads a settings model (a feature's or a provider's) from the same sources as the core's.
    load_settings: Callable[[type[BaseSettings]], BaseSettings]
    bot_open_id: str = ""
    scheduler: Scheduler | None = None
    # Provider clients by name ("juhe", "tcredit"); features fetch theirs with `provider()`.
    providers: dict[str, Any] = field(default_factory=dict)
    # The running features, for what asks every one of them (a person's data: handlers/privacy).
    features: Sequence[Feature] = ()
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
