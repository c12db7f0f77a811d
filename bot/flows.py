"""Per-user dialog state for the personal social-security flow: one flow per user, surviving restarts.

Only what the next step needs is kept: the city, the login method, the Tcredit task id and the card to update.
Passwords, captcha answers and form values are never written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Table, insert, select, update

from bot.store import Store, metadata

# Steps a flow passes through; the last four are final.
CITY, FORM, RUNNING, SMS, IMAGE = "city", "form", "running", "sms", "image"
DONE, FAILED, EXPIRED, CANCELLED = "done", "failed", "expired", "cancelled"
ACTIVE = (CITY, FORM, RUNNING, SMS, IMAGE)
POLLED = (RUNNING, SMS, IMAGE)

personal_flows = Table(
    "personal_flows",
    metadata,
    Column("user", String(128), primary_key=True),
    Column("chat_id", String(128), nullable=False),
    Column("message_id", String(128), nullable=True),
    Column("state", String(16), nullable=False, index=True),
    # Bumped on every step: a click on an older card of the same flow is recognised as stale.
    Column("version", Integer, nullable=False),
    Column("area_code", String(32), nullable=True),
    Column("area_name", String(64), nullable=True),
    Column("login_type", String(16), nullable=True),
    Column("tid", String(128), nullable=True),
    Column("last_code", String(16), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class Flow:
    user: str
    chat_id: str
    message_id: str | None
    state: str
    version: int
    area_code: str | None
    area_name: str | None
    login_type: str | None
    tid: str | None
    last_code: str | None
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Flow:
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        return cls(
            row.user,
            row.chat_id,
            row.message_id,
            row.state,
            row.version,
            row.area_code,
            row.area_name,
            row.login_type,
            row.tid,
            row.last_code,
            expires,
        )

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class Flows:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    async def get(self, user: str) -> Flow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(personal_flows).where(personal_flows.c.user == user))).first()
        return Flow.from_row(row) if row else None

    async def start(self, user: str, chat_id: str, now: datetime, expires_at: datetime) -> Flow:
        """A fresh flow at the city step, replacing whatever the user had."""
        values = {
            "chat_id": chat_id,
            "message_id": None,
            "state": CITY,
            "area_code": None,
            "area_name": None,
            "login_type": None,
            "tid": None,
            "last_code": None,
            "updated_at": now,
            "expires_at": expires_at,
        }
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(select(personal_flows.c.version).where(personal_flows.c.user == user))
            ).scalar()
            if current is None:
                await conn.execute(insert(personal_flows).values(user=user, version=1, **values))
            else:
                await conn.execute(
                    update(personal_flows)
                    .where(personal_flows.c.user == user)
                    .values(version=current + 1, **values)
                )
        flow = await self.get(user)
        assert flow is not None
        return flow

    async def advance(self, user: str, expected_version: int, now: datetime, **values: Any) -> Flow | None:
        """Move to the next step only from the version the caller saw: a double click or a stale card gets None."""
        async with self.engine.begin() as conn:
            changed = await conn.execute(
                update(personal_flows)
                .where(personal_flows.c.user == user, personal_flows.c.version == expected_version)
                .values(version=expected_version + 1, updated_at=now, **values)
            )
        return await self.get(user) if changed.rowcount else None

    async def touch(self, user: str, now: datetime) -> None:
        """Polled without news: to the back of the queue, so every running flow gets its turn."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(personal_flows).where(personal_flows.c.user == user).values(updated_at=now)
            )

    async def set_message(self, user: str, message_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(personal_flows).where(personal_flows.c.user == user).values(message_id=message_id)
            )

    async def polled(self, limit: int) -> list[Flow]:
        """Flows with a Tcredit task in progress, oldest update first."""
        query = (
            select(personal_flows)
            .where(personal_flows.c.state.in_(POLLED))
            .order_by(personal_flows.c.updated_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [Flow.from_row(row) for row in await conn.execute(query)]

    async def lapsed(self, now: datetime, limit: int) -> list[Flow]:
        query = (
            select(personal_flows)
            .where(personal_flows.c.state.in_(ACTIVE), personal_flows.c.expires_at <= now)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [Flow.from_row(row) for row in await conn.execute(query)]
