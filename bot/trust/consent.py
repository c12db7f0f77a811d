"""Consent before personal data goes to a provider (PIPL art. 23 and 29: separate consent for sharing sensitive data).

A feature declares a `Notice` (what is sent, to whom, for what, how long it is kept) with a version; a person's
agreement is stored per notice and version with its time. A new version of a notice asks again; withdrawing keeps
the row (proof of what was agreed before) marked withdrawn until the audit retention has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Table, and_, delete, select, update

from bot.state.store import Store, _dialect_insert, aware, metadata

consents = Table(
    "consents",
    metadata,
    Column("user", String(128), primary_key=True),
    Column("notice", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("agreed_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True, index=True),
)


@dataclass(frozen=True)
class Notice:
    """What a person agrees to before a feature shares their (or a named person's) data with a provider."""

    key: str  # "<feature>.<provider>", e.g. personal_social.tcredit
    version: int
    title: str  # the feature's name as users know it: 个人社保
    provider: str  # 天创（Tcredit）
    sent: Sequence[str]  # what is sent
    purpose: str
    kept: str  # how long the bot keeps it


@dataclass(frozen=True)
class Consent:
    notice: str
    version: int
    agreed_at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Consent:
        return cls(
            row.notice,
            row.version,
            aware(row.agreed_at),
            aware(row.withdrawn_at),
        )


class Consents:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    async def agreed(self, user: str, notice: Notice) -> bool:
        """Agreed to this version of the notice and not withdrawn."""
        query = select(consents.c.user).where(
            consents.c.user == user,
            consents.c.notice == notice.key,
            consents.c.version == notice.version,
            consents.c.withdrawn_at.is_(None),
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def agree(self, user: str, notice: Notice) -> None:
        now = self.store.clock.now()
        statement = _dialect_insert(self.engine.dialect.name)(consents).values(
            user=user, notice=notice.key, version=notice.version, agreed_at=now, withdrawn_at=None
        )
        statement = statement.on_conflict_do_update(
            index_elements=["user", "notice", "version"], set_={"agreed_at": now, "withdrawn_at": None}
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def withdraw(self, user: str) -> list[str]:
        """Every consent the person still has is withdrawn; returns the notices' keys."""
        live = and_(consents.c.user == user, consents.c.withdrawn_at.is_(None))
        async with self.engine.begin() as conn:
            keys = [row.notice for row in await conn.execute(select(consents.c.notice).where(live))]
            await conn.execute(update(consents).where(live).values(withdrawn_at=self.store.clock.now()))
        return list(dict.fromkeys(keys))

    async def of(self, user: str) -> list[Consent]:
        query = select(consents).where(consents.c.user == user).order_by(consents.c.agreed_at)
        async with self.engine.connect() as conn:
            return [Consent.from_row(row) for row in await conn.execute(query)]

    async def forget(self, user: str) -> int:
        return await self.store.changed(delete(consents).where(consents.c.user == user))

    async def purge(self, retention: timedelta) -> int:
        """Withdrawn consents once the audit retention has passed since."""
        before = self.store.clock.now() - retention
        return await self.store.changed(delete(consents).where(consents.c.withdrawn_at < before))
