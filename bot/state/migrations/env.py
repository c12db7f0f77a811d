"""Alembic environment: the bot's metadata, on the connection `upgrade()` holds (or a new one from the CLI)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import bot.state.dialogs
import bot.state.leader
from bot.lifecycle.features import discover
from bot.state.migrations import owned
from bot.state.store import metadata

# Importing these defines their tables on the shared metadata: the core's, then every installed feature's.
assert bot.state.dialogs and bot.state.leader
discover()


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, include_object=owned
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
