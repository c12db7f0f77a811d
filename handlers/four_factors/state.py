"""Four-factor verification requests (Juhe's 企业四要素核验): what a manager is asked to verify, and where its cards are.

The full name and ID number live only here, server-side, between the request and its decision: cards and button
values carry masked values and the request id. Once a request is decided (verified, rejected or expired) the full
values are erased and only the masked ones stay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    and_,
    delete,
    false,
    insert,
    select,
    update,
)

from bot.state.store import Store, aware, metadata
from bot.trust.masking import mask_id_number, mask_name

PENDING, VERIFYING, DONE, FAILED, REJECTED, EXPIRED, WITHDRAWN = (
    "pending",
    "verifying",
    "done",
    "failed",
    "rejected",
    "expired",
    "withdrawn",
)
OPEN = (PENDING, FAILED)  # states a manager can still act on (and the requester withdraw)
FINAL = (DONE, REJECTED, EXPIRED, WITHDRAWN)

four_factors_requests = Table(
    "four_factors_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("requester", String(128), nullable=False),
    Column("chat_id", String(128), nullable=False),
    # chat_id is the requester's private chat with the bot: the copy there may name them in full.
    Column("private", Boolean, nullable=False, server_default=false()),
    Column("entname", String(255), nullable=False),
    Column("entmark", String(32), nullable=False),
    # Erased (NULL) once the request is decided.
    Column("realname", String(64), nullable=True),
    Column("idcard", String(32), nullable=True),
    Column("masked_name", String(64), nullable=False),
    Column("masked_idcard", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    # Bumped by each failed call, so 重新核验 is a new claim and a stale button is recognised.
    Column("attempt", Integer, nullable=False),
    Column("message_ids", JSON, nullable=False),
    Column("outcome", JSON, nullable=True),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class VerificationRequest:
    id: str
    created_at: datetime
    requester: str
    chat_id: str
    private: bool
    entname: str
    entmark: str
    realname: str | None
    idcard: str | None
    masked_name: str
    masked_idcard: str
    status: str
    attempt: int
    message_ids: tuple[str, ...]
    outcome: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None


def _request(row: Any) -> VerificationRequest:
    return VerificationRequest(
        id=row.id,
        created_at=aware(row.created_at),
        requester=row.requester,
        chat_id=row.chat_id,
        private=bool(row.private),
        entname=row.entname,
        entmark=row.entmark,
        realname=row.realname,
        idcard=row.idcard,
        masked_name=row.masked_name,
        masked_idcard=row.masked_idcard,
        status=row.status,
        attempt=row.attempt,
        message_ids=tuple(row.message_ids or ()),
        outcome=row.outcome,
        decided_by=row.decided_by,
        decided_at=aware(row.decided_at),
    )


class Verifications:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    async def create(
        self,
        *,
        requester: str,
        chat_id: str,
        private: bool = False,
        entname: str,
        entmark: str,
        realname: str,
        idcard: str,
        now: datetime,
    ) -> VerificationRequest:
        values = {
            "id": uuid.uuid4().hex,
            "created_at": now,
            "requester": requester,
            "chat_id": chat_id,
            "private": private,
            "entname": entname,
            "entmark": entmark,
            "realname": realname,
            "idcard": idcard,
            "masked_name": mask_name(realname),
            "masked_idcard": mask_id_number(idcard),
            "status": PENDING,
            "attempt": 0,
            "message_ids": [],
            "outcome": None,
            "decided_by": None,
            "decided_at": None,
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert(four_factors_requests).values(**values))
        return _request(SimpleNamespace(**values))

    async def get(self, request_id: str) -> VerificationRequest | None:
        query = select(four_factors_requests).where(four_factors_requests.c.id == request_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _request(row) if row else None

    async def set_messages(self, request_id: str, message_ids: list[str]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(four_factors_requests)
                .where(four_factors_requests.c.id == request_id)
                .values(message_ids=message_ids)
            )

    async def start(self, request_id: str, manager: str, now: datetime) -> None:
        """The winner of the claim is verifying now (others' clicks are told so); `now` dates the start."""
        await self._set(request_id, status=VERIFYING, decided_by=manager, decided_at=now)

    async def interrupted(self, started_before: datetime, error: str) -> list[VerificationRequest]:
        """Verifications cut off mid-call (a restart): failed with their outcome unknown, open to 重新核验."""
        stuck = and_(
            four_factors_requests.c.status == VERIFYING, four_factors_requests.c.decided_at < started_before
        )
        async with self.engine.begin() as conn:
            rows = [_request(row) for row in await conn.execute(select(four_factors_requests).where(stuck))]
            for request in rows:
                await conn.execute(
                    update(four_factors_requests)
                    .where(four_factors_requests.c.id == request.id, stuck)
                    .values(status=FAILED, attempt=request.attempt + 1, outcome={"error": error})
                )
        return [await self.get(r.id) or r for r in rows]

    async def fail(self, request_id: str, attempt: int, error: str, manager: str, now: datetime) -> None:
        """The call failed: the full values stay for 重新核验, which claims the next attempt."""
        await self._set(
            request_id,
            status=FAILED,
            attempt=attempt + 1,
            outcome={"error": error},
            decided_by=manager,
            decided_at=now,
        )

    async def decide(
        self, request_id: str, status: str, outcome: dict[str, Any] | None, manager: str, now: datetime
    ) -> None:
        """Verified or rejected: final, and the full name and ID number are erased."""
        await self._set(
            request_id,
            status=status,
            outcome=outcome,
            decided_by=manager,
            decided_at=now,
            realname=None,
            idcard=None,
        )

    async def expire(self, created_before: datetime) -> list[VerificationRequest]:
        """Requests nobody decided in time: expired, full values erased; returned so their cards can say so."""
        undecided = four_factors_requests.c.status.in_((PENDING, VERIFYING, FAILED))
        query = select(four_factors_requests).where(
            undecided, four_factors_requests.c.created_at < created_before
        )
        async with self.engine.begin() as conn:
            stale = [_request(row) for row in await conn.execute(query)]
            if stale:
                await conn.execute(
                    update(four_factors_requests)
                    .where(four_factors_requests.c.id.in_([r.id for r in stale]), undecided)
                    .values(status=EXPIRED, realname=None, idcard=None)
                )
        return stale

    async def _set(self, request_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(four_factors_requests).where(four_factors_requests.c.id == request_id).values(**values)
            )

    async def withdraw(self, request_id: str) -> bool:
        """The requester takes an open request back: final, and the full name and ID number are erased at once."""
        async with self.engine.begin() as conn:
            changed = await conn.execute(
                update(four_factors_requests)
                .where(four_factors_requests.c.id == request_id, four_factors_requests.c.status.in_(OPEN))
                .values(status=WITHDRAWN, realname=None, idcard=None)
            )
        return bool(changed.rowcount)

    async def of_requester(self, requester: str) -> list[VerificationRequest]:
        query = (
            select(four_factors_requests)
            .where(four_factors_requests.c.requester == requester)
            .order_by(four_factors_requests.c.created_at)
        )
        async with self.engine.connect() as conn:
            return [_request(row) for row in await conn.execute(query)]

    async def forget(self, request_ids: list[str]) -> int:
        return await self.store.changed(
            delete(four_factors_requests).where(four_factors_requests.c.id.in_(request_ids))
        )

    async def purge(self, created_before: datetime) -> int:
        """Closed requests (masked values and outcome only) past their retention."""
        return await self.store.changed(
            delete(four_factors_requests).where(
                four_factors_requests.c.status.in_(FINAL),
                four_factors_requests.c.created_at < created_before,
            )
        )
