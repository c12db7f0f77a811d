"""Versioned schema migrations (Alembic), applied at start-up, one replica at a time."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import create_engine, pool, text

from bot.state.scheduler import SCHEDULER_TABLE
from bot.state.store import metadata, scheduler_url, sync_url

HERE = Path(__file__).resolve().parent
# Any constant: replicas starting together take turns migrating.
MIGRATION_LOCK = 716_011


def alembic_config(database_url: str, feature_locations: Sequence[Path] = ()) -> Config:
    """`feature_locations`: features' own revision folders, read beside the core's (one history, one head)."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    locations = [HERE / "versions", *feature_locations]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    # Alembic's config is an INI parser: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, feature_locations: Sequence[Path] | None = None) -> None:
    """Bring the database to the newest schema, and create the scheduler's job table, holding a lock on
    PostgreSQL so replicas starting together do not race (APScheduler's own table creation is not race-safe).

    Features may keep their own revisions (`Feature.migrations`); by default every installed feature's are read."""
    if feature_locations is None:
        from bot.lifecycle.features import discover, migration_locations

        feature_locations = migration_locations(discover())
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            locked = connection.dialect.name == "postgresql"
            if locked:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
            try:
                config = alembic_config(database_url, feature_locations)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                _create_scheduler_table(database_url)
            finally:
                if locked:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                    connection.commit()
    finally:
        engine.dispose()


def _create_scheduler_table(database_url: str) -> None:
    """Created here, under the lock: APScheduler's own create-if-missing races when replicas start together."""
    engine = create_engine(scheduler_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            SQLAlchemyJobStore(engine=engine, tablename=SCHEDULER_TABLE).jobs_t.create(
                connection, checkfirst=True
            )
    finally:
        engine.dispose()


def owned(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Only the bot's own tables: APScheduler's job table is APScheduler's to shape."""
    return not (type_ == "table" and reflected and name not in metadata.tables)
