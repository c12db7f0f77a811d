"""增减员 state that outlives a process and is shared by replicas: subscribed digest chats, and per chat what the
previous digest showed (so the next one reports only what changed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, String, Table, Text, delete, select

from bot.state.store import Store, _dialect_insert, aware, metadata

digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("chat_id", String(128), primary_key=True),
    Column("subscribed_by", String(128), nullable=False),
    Column("subscribed_at", DateTime(timezone=True), nullable=False),
)

digest_baselines = Table(
    "digest_baselines",
    metadata,
    # A chat id, or "user:<open_id>" for a digest sent privately.
    Column("destination", String(160), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),
    # {record line key: fingerprint of its fields}: what the previous digest showed, no names or figures.
    Column("fingerprints", Text, nullable=False),
)


@dataclass(frozen=True)
class Baseline:
    since: datetime
    fingerprints: dict[str, str]


async def subscriptions(store: Store) -> dict[str, str]:
    """chat_id → who subscribed it."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(digest_subscriptions.c.chat_id, digest_subscriptions.c.subscribed_by)
        )
        return {row.chat_id: row.subscribed_by for row in rows}


async def subscribe(store: Store, chat_id: str, by: str) -> bool:
    """False when the chat was subscribed already."""
    statement = (
        _dialect_insert(store.engine.dialect.name)(digest_subscriptions)
        .values(chat_id=chat_id, subscribed_by=by, subscribed_at=store.clock.now())
        .on_conflict_do_nothing(index_elements=["chat_id"])
        .returning(digest_subscriptions.c.chat_id)
    )
    async with store.engine.begin() as conn:
        return (await conn.execute(statement)).first() is not None


async def unsubscribe(store: Store, chat_id: str) -> str | None:
    """Who had subscribed the chat, or None when it was not subscribed."""
    async with store.engine.begin() as conn:
        found = (
            await conn.execute(
                select(digest_subscriptions.c.subscribed_by).where(digest_subscriptions.c.chat_id == chat_id)
            )
        ).first()
        if found is None:
            return None
        await conn.execute(delete(digest_subscriptions).where(digest_subscriptions.c.chat_id == chat_id))
        return str(found.subscribed_by)


async def baseline(store: Store, destination: str) -> Baseline | None:
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(
                select(digest_baselines.c.since, digest_baselines.c.fingerprints).where(
                    digest_baselines.c.destination == destination
                )
            )
        ).first()
    if row is None:
        return None
    return Baseline(aware(row.since), dict(json.loads(row.fingerprints)))


async def save_baseline(
    store: Store, destination: str, fingerprints: dict[str, str], since: datetime
) -> None:
    payload = json.dumps(fingerprints, separators=(",", ":"))
    statement = _dialect_insert(store.engine.dialect.name)(digest_baselines).values(
        destination=destination, since=since, fingerprints=payload
    )
    statement = statement.on_conflict_do_update(
        index_elements=["destination"], set_={"since": since, "fingerprints": payload}
    )
    async with store.engine.begin() as conn:
        await conn.execute(statement)
