"""Features are found, not imported by name: each is a `Feature` object that a distribution declares in the
`hrbot.features` entry-point group (see pyproject.toml), the way pytest finds plugins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from bot.config import SettingsModel
from bot.lifecycle.manifest import Manifest
from bot.lifecycle.services import Catalogue, CommandInfo, PersonalData, Services
from bot.routing.guards import required_roles
from bot.routing.router import Dispatcher, Router
from bot.trust.consent import Notice

ENTRY_POINT_GROUP = "hrbot.features"


@dataclass(frozen=True)
class ConsoleAnswer:
    """What the sandbox console shows after running a feature's console task."""

    message: str  # "{chats}" in it becomes the names of `chats`
    kind: str = "success"
    chats: Sequence[str] = ()

    @property
    def open_chat(self) -> str | None:
        return self.chats[0] if self.chats else None


ConsoleTask = Callable[["Services"], Awaitable[ConsoleAnswer]]


@dataclass(frozen=True)
class Feature:
    """One feature: its router (commands, actions, schedules), the settings models it reads, the values the
    sandbox gives its settings when the environment leaves them empty, and buttons for the sandbox console (label →
    task). Its tables are defined when its package is imported. `order` places its commands in the help card."""

    router: Router
    settings: Sequence[type[SettingsModel]] = ()
    sandbox_defaults: Mapping[str, Any] = field(default_factory=dict)
    console_tasks: Mapping[str, ConsoleTask] = field(default_factory=dict)
    order: int = 100
    # A folder of the feature's own Alembic revisions (chained after the newest one when written).
    migrations: Path | None = None
    # Consent notices shown before the feature shares personal data with a provider (bot/trust/consent.py).
    notices: Sequence[Notice] = ()
    personal_data: PersonalData | None = None
    # What it needs from the Feishu tenant: scopes and their probes, events, chats, provider keys (bot/lifecycle/manifest.py).
    manifest: Manifest | None = None

    @property
    def name(self) -> str:
        return self.router.name


def discover() -> list[Feature]:
    """Every installed feature, in help-card order."""
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        feature = entry.load()
        if not isinstance(feature, Feature):
            raise TypeError(f"entry point {entry.name!r} is not a Feature")
        # The same object twice is one feature: two metadata copies of one install (pip replacing an editable
        # install while another process starts) list each entry point twice.
        if not any(feature is known for known in found):
            found.append(feature)
    return sorted(found, key=lambda f: (f.order, f.name))


def migration_locations(features: Iterable[Feature]) -> list[Path]:
    return [feature.migrations for feature in features if feature.migrations is not None]


def build_dispatcher(features: Iterable[Feature], *core: Router) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.include(*core, *(feature.router for feature in features))
    return dispatcher


def build_catalogue(features: Sequence[Feature], dispatcher: Dispatcher) -> Catalogue:
    """What handlers may know of the running features (`services.catalogue`), built at start-up with the dispatcher."""
    return Catalogue(
        commands=tuple(
            CommandInfo(
                command.name,
                command.aliases,
                command.summary,
                command.example,
                router.name,
                tuple(dict.fromkeys([*required_roles(command.guards), *command.shown_to])),
            )
            for router in dispatcher.routers
            for command in router.commands
        ),
        notices=tuple(notice for feature in features for notice in feature.notices),
        personal_data=tuple(
            feature.personal_data for feature in features if feature.personal_data is not None
        ),
    )
