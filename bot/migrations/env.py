"""Alembic environment: the bot's metadata, and one migrator at a time on PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

import bot.leader
import bot.micro_jobs
from bot.migrations import owned
from bot.store import metadata

# The modules above define their tables on the shared metadata; importing them is what registers them.
assert bot.leader and bot.micro_jobs

# Any constant: replicas starting together take turns migrating.
MIGRATION_LOCK = 716_011


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        try:
            context.configure(
                connection=connection, target_metadata=metadata, render_as_batch=True, include_object=owned
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


run_migrations_online()
