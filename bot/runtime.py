"""The running bot's services, built once at start and handed to every handler and scheduled job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.config import Settings
from bot.feishu import FeishuClient
from bot.router import Dispatcher
from bot.store import Store

if TYPE_CHECKING:
    from bot.scheduler import Scheduler


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    feishu: FeishuClient
    dispatcher: Dispatcher
    bot_open_id: str = ""
    scheduler: Scheduler | None = None
    # Provider clients by name ("juhe", "tcredit"); features fetch theirs with `provider()`.
    providers: dict[str, Any] = field(default_factory=dict)

    def provider(self, name: str, factory: Callable[[Settings], Any] | None = None) -> Any:
        """The named provider client, created on first use when a factory is given (one per process)."""
        if name not in self.providers and factory is not None:
            self.providers[name] = factory(self.settings)
        return self.providers[name]


_current: Services | None = None


def install(services: Services | None) -> None:
    """Persistent scheduler jobs are stored by function reference; they find the services here."""
    global _current
    _current = services


def current() -> Services:
    if _current is None:
        raise RuntimeError("the bot's services are not running")
    return _current
