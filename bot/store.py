"""The bot's state in one database (SQLite file by default, PostgreSQL by URL): tables and the few queries on them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.clock import Clock

metadata = MetaData()

processed_events = Table(
    "processed_events",
    metadata,
    # "event:<event_id>" or "message:<message_id>": Feishu redelivers, sometimes with a new event_id.
    Column("key", String(128), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

audit_records = Table(
    "audit_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("ref", String(128), nullable=True),
    Column("detail", JSON, nullable=True),
)


def async_url(url: str) -> str:
    """The async driver for a plain URL: sqlite → aiosqlite, postgresql → psycopg (3, async-capable)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def sync_url(url: str) -> str:
    """The sync driver for APScheduler's job store on the same database."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the scheduler's sync connection and the bot's async one work side by side.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(async_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


class Store:
    def __init__(self, url: str, clock: Clock) -> None:
        self.url = url
        self.clock = clock
        self.engine = make_engine(url)

    async def create_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()

    # Dedup -----------------------------------------------------------------------------------------------------
    async def claim(self, keys: list[str]) -> bool:
        """Record keys as processed; False when any was already there (a redelivery)."""
        now = self.clock.now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(processed_events), [{"key": k, "created_at": now} for k in keys])
        except IntegrityError:
            return False
        return True

    async def purge_processed(self, retention: timedelta) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(processed_events).where(processed_events.c.created_at < self.clock.now() - retention)
            )
        return result.rowcount or 0

    # Cache of provider answers ---------------------------------------------------------------------------------
    async def cache_get(self, key: str) -> Any | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(cache_entries.c.value, cache_entries.c.expires_at).where(
                        cache_entries.c.key == key
                    )
                )
            ).first()
        if row is None or _aware(row.expires_at) <= self.clock.now():
            return None
        return json.loads(row.value)

    async def cache_set(self, key: str, value: Any, ttl: timedelta) -> None:
        payload = json.dumps(value, ensure_ascii=False)
        expires = self.clock.now() + ttl
        async with self.engine.begin() as conn:
            await conn.execute(delete(cache_entries).where(cache_entries.c.key == key))
            await conn.execute(insert(cache_entries).values(key=key, value=payload, expires_at=expires))

    # Audit -----------------------------------------------------------------------------------------------------
    async def audit(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        outcome: str,
        ref: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(audit_records).values(
                    at=self.clock.now(),
                    actor=actor,
                    action=action,
                    subject=subject,
                    outcome=outcome,
                    ref=ref,
                    detail=detail,
                )
            )

    async def audit_rows(self, action: str | None = None) -> list[dict[str, Any]]:
        query = select(audit_records).order_by(audit_records.c.id)
        if action:
            query = query.where(audit_records.c.action == action)
        async with self.engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
