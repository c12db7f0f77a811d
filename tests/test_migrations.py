"""The migrations build exactly the schema the code declares: a table added without a migration fails here."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import bot.state.dialogs
import bot.state.leader
from bot.lifecycle.features import discover
from bot.state.migrations import owned, upgrade
from bot.state.store import metadata, sync_url

assert bot.state.dialogs and bot.state.leader
discover()  # features define their tables on import


def test_migrations_match_the_models(tmp_path: Path, database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # a second start-up changes nothing
    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": owned})
        assert compare_metadata(context, metadata) == []
        assert set(metadata.tables) <= set(inspect(connection).get_table_names())
    engine.dispose()


def test_scheduler_jobs_sit_beside_a_sqlite_file_and_inside_postgres() -> None:
    from bot.state.store import scheduler_url

    # Separate SQLite files: APScheduler's synchronous writes on the loop cannot wait on an async writer's lock.
    assert scheduler_url("sqlite:////data/hrbot.db") == "sqlite:////data/hrbot-scheduler.db"
    assert scheduler_url("sqlite+aiosqlite:///hrbot.db") == "sqlite:///hrbot-scheduler.db"
    assert scheduler_url("postgresql://u:p@db/hrbot") == "postgresql+psycopg://u:p@db/hrbot"
