"""Each reported 增减员 record's filing state: 待申报, 已申报 (who, when), 无需申报 (why), 有变更 (changed after HR decided).

A record is one person's 增员 or 减员 of one insurance kind (社保 / 公积金) in one effective month: HR files the two kinds
with different offices, so each has its own state. The key is that identity, so a record whose figures change keeps
its row, and the fingerprint of its fields tells the change. Rows live in the database: every replica and restart
sees the same states. A click changes any number of rows in one UPDATE, keeping the previous state for 撤销.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, String, Table, bindparam, case, or_, select, update

from bot.state.store import Store, _dialect_insert, aware, metadata
from cards.adjust_records import CHANGED, FILED, FILING_LABEL, NOT_NEEDED, PENDING

LABELS = FILING_LABEL
# What HR still has to do something about.
OPEN = frozenset({PENDING, CHANGED})
DECIDED = frozenset({FILED, NOT_NEEDED})
# Who changed a state HR set in the 多维表格 (handlers/adjust_records/bitable.py).
BITABLE_ACTOR = "bitable"
# A statement's IN list stays well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 5000

filing_states = Table(
    "adjust_filing_states",
    metadata,
    # "<open_id>:<increase|attrition>:<social_insurance|provident_fund>:<YYYY-MM>"
    Column("record_key", String(200), primary_key=True),
    Column("state", String(16), nullable=False),
    # The record's fields when last seen (open) or when HR decided (filed / not needed).
    Column("fingerprint", String(32), nullable=False),
    Column("by", String(128), nullable=True),
    Column("at", DateTime(timezone=True), nullable=True),
    Column("reason", String(200), nullable=True),
    # The state before the latest human change, for 撤销 (empty once undone or after a change in the data).
    Column("prev_state", String(16), nullable=True),
    Column("prev_by", String(128), nullable=True),
    Column("prev_at", DateTime(timezone=True), nullable=True),
    Column("prev_reason", String(200), nullable=True),
    # The state the Bitable last agreed with (handlers/adjust_records/bitable.py); empty without a table.
    Column("synced", String(16), nullable=True),
)


@dataclass(frozen=True)
class Filing:
    key: str
    state: str
    by: str = ""
    at: datetime | None = None
    reason: str = ""
    synced: str = ""
    fingerprint: str = ""


def record_key(open_id: str, record_type: str, insurance_type: str, month: str) -> str:
    return f"{open_id}:{record_type}:{insurance_type}:{month}"


def _filing(row: Any) -> Filing:
    return Filing(
        row.record_key,
        row.state,
        row.by or "",
        aware(row.at),
        row.reason or "",
        row.synced or "",
        row.fingerprint,
    )


def _chunks(keys: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield list(keys[start : start + CHUNK])


async def states(store: Store, keys: Iterable[str] | None = None) -> dict[str, Filing]:
    """The rows of `keys` (every row when None)."""
    found: dict[str, Filing] = {}
    async with store.engine.connect() as conn:
        if keys is None:
            for row in await conn.execute(select(filing_states)):
                found[row.record_key] = _filing(row)
            return found
        for chunk in _chunks(list(dict.fromkeys(keys))):
            for row in await conn.execute(select(filing_states).where(filing_states.c.record_key.in_(chunk))):
                found[row.record_key] = _filing(row)
    return found


async def reconcile(store: Store, fingerprints: dict[str, str]) -> dict[str, Filing]:
    """Bring the rows in line with the records as collected now (record key → fingerprint): a new record is 待申报, a
    decided record whose fields changed is 有变更. Safe when replicas run it at once. Returns the rows."""
    known = await states(store, fingerprints)
    fresh = [
        {"record_key": key, "state": PENDING, "fingerprint": fp}
        for key, fp in fingerprints.items()
        if key not in known
    ]
    differs = [
        {"k": key, "fp": fingerprints[key]}
        for key, filing in known.items()
        if filing.fingerprint != fingerprints[key]
    ]
    if not fresh and not differs:
        return known
    c = filing_states.c
    # Spelled out: an IN list cannot take part in a statement run for many rows.
    decided = or_(c.state == FILED, c.state == NOT_NEEDED)
    async with store.engine.begin() as conn:
        if fresh:
            insert = _dialect_insert(store.engine.dialect.name)(filing_states)
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["record_key"]), fresh)
        if differs:
            # Open rows follow the data silently (已申报 then means "filed as last shown"); a decided row turns 有变更.
            await conn.execute(
                update(filing_states)
                .where(c.record_key == bindparam("k"), c.fingerprint != bindparam("fp"))
                .values(
                    fingerprint=bindparam("fp"),
                    state=case((decided, CHANGED), else_=c.state),
                    prev_state=case((decided, None), else_=c.prev_state),
                ),
                differs,
            )
    return await states(store, fingerprints)


async def mark(
    store: Store, keys: Sequence[str], state: str, *, by: str, reason: str = "", at: datetime
) -> int:
    """Set `keys` to `state` in one UPDATE (rows already in that state are left alone); returns how many changed."""
    if not keys:
        return 0
    c = filing_states.c
    statement = (
        update(filing_states)
        .where(c.record_key.in_(list(keys)), c.state != state)
        .values(
            prev_state=c.state,
            prev_by=c.by,
            prev_at=c.at,
            prev_reason=c.reason,
            state=state,
            by=by,
            at=at,
            reason=reason or None,
        )
    )
    return await store.changed(statement)


async def undo(store: Store, keys: Sequence[str]) -> int:
    """Put back the state each of `keys` had before its latest change by HR, in one UPDATE."""
    if not keys:
        return 0
    c = filing_states.c
    statement = (
        update(filing_states)
        .where(c.record_key.in_(list(keys)), c.prev_state.is_not(None))
        .values(
            state=c.prev_state,
            by=c.prev_by,
            at=c.prev_at,
            reason=c.prev_reason,
            prev_state=None,
            prev_by=None,
            prev_at=None,
            prev_reason=None,
        )
    )
    return await store.changed(statement)
