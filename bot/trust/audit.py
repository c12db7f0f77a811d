"""Access audit: who saw whose personal data, what kind, where, when (PIPL's record of processing).

One row per person seen (HR reading a colleague's 增减员 records, a manager deciding a verification); a digest or
export delivered to a chat is one row per delivery with the number of people in it. Rows are only appended by the
bot; the retention job (HRBOT_AUDIT_RETENTION_DAYS) is the one thing that deletes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from bot.state.store import Store, audit_records, aware

# The outcome of a plain view or delivery (decisions record their own: consistent, rejected...).
SHOWN = "shown"
SYSTEM = "system"  # the actor of a scheduled delivery


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    kind: str
    subject_id: str | None
    place: str
    people: int | None
    outcome: str
    ref: str | None

    @classmethod
    def from_row(cls, row: Any) -> AuditRow:
        return cls(
            row.id,
            aware(row.at),
            row.actor,
            row.action,
            row.subject_id,
            row.place or "",
            row.people,
            row.outcome,
            row.ref,
        )


async def viewed(store: Store, actor: str, subjects: Sequence[str], kind: str, place: str) -> None:
    """`actor` was shown the data of each of `subjects` (open_ids) in `place`: one row each, themselves left out."""
    others = [s for s in dict.fromkeys(subjects) if s and s != actor]
    await store.audit_many(
        [
            {
                "actor": actor,
                "action": kind,
                "subject": subject,
                "outcome": SHOWN,
                "subject_id": subject,
                "place": place,
            }
            for subject in others
        ]
    )


async def delivered(store: Store, actor: str, kind: str, place: str, people: int) -> None:
    """A digest or export holding `people` persons' data went to `place`: one row for the delivery."""
    await store.audit(
        actor=actor, action=kind, subject=f"{people} 人", outcome=SHOWN, place=place, people=people
    )


def _matching(subject: str | None, day: tuple[datetime, datetime] | None) -> list[Any]:
    where = []
    if subject:
        where.append(audit_records.c.subject_id == subject)
    if day is not None:
        # Stored times are UTC, and SQLite compares them as text: local bounds are converted first.
        where.extend(
            [audit_records.c.at >= day[0].astimezone(UTC), audit_records.c.at < day[1].astimezone(UTC)]
        )
    return where


async def count(store: Store, *, subject: str | None = None) -> int:
    """How many rows there are about `subject`."""
    query = select(func.count()).select_from(audit_records).where(*_matching(subject, None))
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def recent(
    store: Store,
    *,
    subject: str | None = None,
    day: tuple[datetime, datetime] | None = None,
    limit: int | None = 20,
) -> tuple[list[AuditRow], int]:
    """The newest rows (about `subject`, or within `day`'s [start, end)), and how many match in all."""
    where = _matching(subject, day)
    query = select(audit_records).where(*where).order_by(audit_records.c.at.desc(), audit_records.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    async with store.engine.connect() as conn:
        rows = [AuditRow.from_row(row) for row in await conn.execute(query)]
        total = (
            await conn.execute(select(func.count()).select_from(audit_records).where(*where))
        ).scalar_one()
    return rows, int(total)


async def purge(store: Store, retention: timedelta) -> int:
    return await store.changed(
        delete(audit_records).where(audit_records.c.at < store.clock.now() - retention)
    )
