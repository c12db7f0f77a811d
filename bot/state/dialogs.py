"""Versioned state for multi-step dialogs: one dialog per feature and user, surviving restarts and replicas.

Every step bumps the version; a card carries the version it was shown with, and a step is taken only from the
version the caller saw (`advance`), so a double click or an old card cannot run a step twice. Keep only what the
next step needs in `data`: never passwords, codes or form values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.state.store import Store, aware, metadata

dialogs = Table(
    "dialogs",
    metadata,
    Column("feature", String(64), primary_key=True),
    Column("user", String(128), primary_key=True),
    Column("chat_id", String(128), nullable=False),
    Column("message_id", String(128), nullable=True),
    Column("step", String(16), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("data", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class Dialog:
    user: str
    chat_id: str
    message_id: str | None
    step: str
    version: int
    expires_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Dialog:
        return cls(
            row.user,
            row.chat_id,
            row.message_id,
            row.step,
            row.version,
            aware(row.expires_at),
            dict(row.data or {}),
            aware(row.updated_at),
        )


class Dialogs:
    """The dialogs of one feature."""

    def __init__(self, store: Store, feature: str) -> None:
        self.engine = store.engine
        self.feature = feature

    def _mine(self, user: str) -> Any:
        return (dialogs.c.feature == self.feature) & (dialogs.c.user == user)

    async def get(self, user: str) -> Dialog | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(dialogs).where(self._mine(user)))).first()
        return Dialog.from_row(row) if row else None

    async def start(self, user: str, chat_id: str, step: str, now: datetime, expires_at: datetime) -> Dialog:
        """A fresh dialog at `step`, replacing whatever the user had (its version goes on counting)."""
        values = {
            "chat_id": chat_id,
            "message_id": None,
            "step": step,
            "data": {},
            "updated_at": now,
            "expires_at": expires_at,
        }
        # The version is bumped in SQL: two starts at once (a message sent twice) get two versions, never one.
        bump = update(dialogs).where(self._mine(user)).values(version=dialogs.c.version + 1, **values)
        async with self.engine.begin() as conn:
            bumped = (await conn.execute(bump)).rowcount
        if not bumped:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        insert(dialogs).values(feature=self.feature, user=user, version=1, **values)
                    )
            except IntegrityError:
                async with self.engine.begin() as conn:  # the other start inserted first
                    await conn.execute(bump)
        dialog = await self.get(user)
        assert dialog is not None
        return dialog

    async def advance(
        self,
        user: str,
        expected_version: int,
        now: datetime,
        *,
        step: str | None = None,
        expires_at: datetime | None = None,
        **data: Any,
    ) -> Dialog | None:
        """Take a step from the version the caller saw, merging `data`; None when it moved on meanwhile."""
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(
                    select(dialogs.c.data).where(self._mine(user), dialogs.c.version == expected_version)
                )
            ).first()
            if current is None:
                return None
            values: dict[str, Any] = {"version": expected_version + 1, "updated_at": now}
            values["data"] = {**(current.data or {}), **data}
            if step is not None:
                values["step"] = step
            if expires_at is not None:
                values["expires_at"] = expires_at
            changed = await conn.execute(
                update(dialogs)
                .where(self._mine(user), dialogs.c.version == expected_version)
                .values(**values)
            )
            if not changed.rowcount:
                return None
            # Read in the same transaction: the step taken here, not one another caller took right after it.
            row = (await conn.execute(select(dialogs).where(self._mine(user)))).one()
        return Dialog.from_row(row)

    async def touch(self, user: str, now: datetime) -> None:
        """Looked at without news: to the back of the queue, so every dialog gets its turn (`in_steps`)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(dialogs).where(self._mine(user)).values(updated_at=now))

    async def set_message(self, user: str, message_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(dialogs).where(self._mine(user)).values(message_id=message_id))

    async def forget(self, user: str) -> bool:
        """The user's dialog is gone (deleted on request, or the person left)."""
        async with self.engine.begin() as conn:
            return bool((await conn.execute(delete(dialogs).where(self._mine(user)))).rowcount)

    async def in_steps(self, steps: Sequence[str], limit: int) -> list[Dialog]:
        """Dialogs at one of `steps`, least recently updated first."""
        query = (
            select(dialogs)
            .where(dialogs.c.feature == self.feature, dialogs.c.step.in_(steps))
            .order_by(dialogs.c.updated_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [Dialog.from_row(row) for row in await conn.execute(query)]

    async def lapsed(self, steps: Sequence[str], now: datetime, limit: int) -> list[Dialog]:
        """Dialogs still at one of `steps` whose time is up."""
        query = (
            select(dialogs)
            .where(dialogs.c.feature == self.feature, dialogs.c.step.in_(steps), dialogs.c.expires_at <= now)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [Dialog.from_row(row) for row in await conn.execute(query)]


async def purge_dialogs(store: Store, retention: timedelta) -> int:
    """Dialogs of every feature whose last step is older than `retention` (HRBOT_DIALOG_RETENTION_DAYS)."""
    return await store.changed(delete(dialogs).where(dialogs.c.updated_at < store.clock.now() - retention))
