"""Versioned schema migrations (Alembic), applied at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from bot.store import metadata, sync_url

HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Alembic's config is an INI parser: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest schema; a no-op when it is already there."""
    command.upgrade(alembic_config(database_url), "head")


def owned(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Only the bot's own tables: APScheduler creates and migrates its job table itself."""
    return not (type_ == "table" and reflected and name not in metadata.tables)
