"""Pending micro-enterprise jobs (Juhe's asynchronous 小微企业 query) and who waits for each: the state that survives a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)

from bot.state.store import Store, aware, metadata

PENDING, DONE, FAILED, EXPIRED = "pending", "done", "failed", "expired"

micro_ent_jobs = Table(
    "micro_ent_jobs",
    metadata,
    Column("jobid", String(128), primary_key=True),
    Column("keyword", String(255), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("next_poll_at", DateTime(timezone=True), nullable=False, index=True),
    Column("polls", Integer, nullable=False, default=0),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

micro_ent_watchers = Table(
    "micro_ent_watchers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("jobid", String(128), nullable=False, index=True),
    Column("requester", String(128), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("message_id", String(128), nullable=True),
    Column("notified", Boolean, nullable=False, default=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Job:
    jobid: str
    keyword: str
    status: str
    submitted_at: datetime
    next_poll_at: datetime
    polls: int
    result: dict[str, Any] | None
    error: str | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(
            jobid=row.jobid,
            keyword=row.keyword,
            status=row.status,
            submitted_at=aware(row.submitted_at),
            next_poll_at=aware(row.next_poll_at),
            polls=row.polls,
            result=row.result,
            error=row.error,
        )


@dataclass(frozen=True)
class Watcher:
    id: int
    jobid: str
    requester: str
    chat_id: str
    message_id: str | None


class MicroJobs:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    async def create(self, jobid: str, keyword: str, submitted_at: datetime, first_poll_at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(micro_ent_jobs).values(
                    jobid=jobid,
                    keyword=keyword,
                    status=PENDING,
                    submitted_at=submitted_at,
                    next_poll_at=first_poll_at,
                    polls=0,
                )
            )

    async def job(self, jobid: str) -> Job | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(micro_ent_jobs).where(micro_ent_jobs.c.jobid == jobid))).first()
        return Job.from_row(row) if row else None

    async def pending_for(self, keyword: str, submitted_after: datetime) -> Job | None:
        """A job for the same company still running and still valid: a new requester joins it."""
        query = (
            select(micro_ent_jobs)
            .where(
                micro_ent_jobs.c.keyword == keyword,
                micro_ent_jobs.c.status == PENDING,
                micro_ent_jobs.c.submitted_at > submitted_after,
            )
            .order_by(micro_ent_jobs.c.submitted_at.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Job.from_row(row) if row else None

    async def due(self, now: datetime, limit: int) -> list[Job]:
        """The pending jobs whose next poll has come, oldest first; `limit` keeps one round's memory bounded."""
        query = (
            select(micro_ent_jobs)
            .where(micro_ent_jobs.c.status == PENDING, micro_ent_jobs.c.next_poll_at <= now)
            .order_by(micro_ent_jobs.c.next_poll_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [Job.from_row(row) for row in await conn.execute(query)]

    async def pending_count(self) -> int:
        query = select(func.count()).select_from(micro_ent_jobs).where(micro_ent_jobs.c.status == PENDING)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def reschedule(self, jobid: str, next_poll_at: datetime, polls: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(micro_ent_jobs)
                .where(micro_ent_jobs.c.jobid == jobid)
                .values(next_poll_at=next_poll_at, polls=polls)
            )

    async def finish(
        self,
        jobid: str,
        status: str,
        now: datetime,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Pending → final state, once: False when another poller got there first."""
        async with self.engine.begin() as conn:
            changed = await conn.execute(
                update(micro_ent_jobs)
                .where(micro_ent_jobs.c.jobid == jobid, micro_ent_jobs.c.status == PENDING)
                .values(status=status, result=result, error=error, finished_at=now)
            )
        return bool(changed.rowcount)

    async def add_watcher(self, jobid: str, requester: str, chat_id: str, now: datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(micro_ent_watchers).values(
                    jobid=jobid, requester=requester, chat_id=chat_id, notified=False, created_at=now
                )
            )
        return int(result.inserted_primary_key[0])

    async def set_message(self, watcher_id: int, message_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(micro_ent_watchers)
                .where(micro_ent_watchers.c.id == watcher_id)
                .values(message_id=message_id)
            )

    async def watcher_for_message(self, message_id: str) -> Watcher | None:
        query = select(micro_ent_watchers).where(micro_ent_watchers.c.message_id == message_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query.order_by(micro_ent_watchers.c.id.desc()).limit(1))).first()
        return _watcher(row) if row else None

    async def move_watcher(self, watcher_id: int, jobid: str) -> None:
        """A 重新查询: the same card now follows a new job and will be notified again."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(micro_ent_watchers)
                .where(micro_ent_watchers.c.id == watcher_id)
                .values(jobid=jobid, notified=False)
            )

    async def unnotified(self, limit: int) -> list[tuple[Job, Watcher]]:
        """Watchers of finished jobs not yet told."""
        query = (
            select(
                micro_ent_jobs,
                micro_ent_watchers.c.id.label("watcher_id"),
                micro_ent_watchers.c.requester,
                micro_ent_watchers.c.chat_id,
                micro_ent_watchers.c.message_id,
            )
            .join(micro_ent_watchers, micro_ent_watchers.c.jobid == micro_ent_jobs.c.jobid)
            .where(and_(micro_ent_jobs.c.status != PENDING, micro_ent_watchers.c.notified.is_(False)))
            .order_by(micro_ent_watchers.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(query))
        return [
            (
                Job.from_row(row),
                Watcher(row.watcher_id, row.jobid, row.requester, row.chat_id, row.message_id),
            )
            for row in rows
        ]

    async def mark_notified(self, watcher_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(micro_ent_watchers).where(micro_ent_watchers.c.id == watcher_id).values(notified=True)
            )


def _watcher(row: Any) -> Watcher:
    return Watcher(row.id, row.jobid, row.requester, row.chat_id, row.message_id)


async def queries_of(store: Store, requester: str) -> list[tuple[str, str, datetime]]:
    """The person's queries still on file: (company, status, submitted at)."""
    query = (
        select(micro_ent_jobs.c.keyword, micro_ent_jobs.c.status, micro_ent_jobs.c.submitted_at)
        .join(micro_ent_watchers, micro_ent_jobs.c.jobid == micro_ent_watchers.c.jobid)
        .where(micro_ent_watchers.c.requester == requester)
        .order_by(micro_ent_watchers.c.id)
    )
    async with store.engine.connect() as conn:
        return [(row.keyword, row.status, aware(row.submitted_at)) for row in await conn.execute(query)]  # type: ignore[misc]


async def forget_requester(store: Store, requester: str) -> int:
    return await store.changed(delete(micro_ent_watchers).where(micro_ent_watchers.c.requester == requester))


async def purge_finished(store: Store, finished_before: datetime) -> int:
    """Jobs finished before `finished_before` whose watchers have all been told, with those watchers."""
    told = select(micro_ent_watchers.c.id).where(
        micro_ent_watchers.c.jobid == micro_ent_jobs.c.jobid, micro_ent_watchers.c.notified.is_(False)
    )
    old = select(micro_ent_jobs.c.jobid).where(
        micro_ent_jobs.c.status != PENDING, micro_ent_jobs.c.finished_at < finished_before, ~told.exists()
    )
    async with store.engine.begin() as conn:
        jobids = [row.jobid for row in await conn.execute(old)]
        if not jobids:
            return 0
        await conn.execute(delete(micro_ent_watchers).where(micro_ent_watchers.c.jobid.in_(jobids)))
        await conn.execute(delete(micro_ent_jobs).where(micro_ent_jobs.c.jobid.in_(jobids)))
    return len(jobids)
