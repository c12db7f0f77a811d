"""The company's 多维表格 for 增减员 filing (HRBOT_ADJUST_BITABLE_APP_TOKEN / _TABLE_ID): one row per record, keyed by
记录键, kept in step with the bot both ways.

Each sync: create the fields the bot needs if missing; read every row's 申报状态; a state HR changed in the table
(it differs from the one the two last agreed on) becomes the bot's; a state the bot changed is written to the table;
records the table lacks are added. When both changed since they last agreed, the table wins: it is HR's latest word.
A table that cannot be reached is logged and skipped: cards and reminders go on with the bot's states.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import bindparam, update

from bot.feishu.client import FeishuError
from bot.lifecycle.services import Services
from bot.providers.bitable import DATE, SINGLE_SELECT, TEXT, BitableClient, BitableRecord
from cards.adjust_records import INSURANCE_TYPE, RECORD_TYPE, RecordLine
from handlers.adjust_records.filing_state import (
    BITABLE_ACTOR,
    DECIDED,
    LABELS,
    NOT_NEEDED,
    Filing,
    filing_states,
    mark,
    record_key,
    states,
)
from handlers.adjust_records.settings import settings_of

log = logging.getLogger("hrbot.adjust_records")

KEY = "记录键"
STATE = "申报状态"
BY = "申报人"
AT = "申报时间"
REASON = "无需申报原因"
# Field name → (type, single-select options): the bot creates what is missing and never touches other fields.
FIELDS: dict[str, tuple[int, tuple[str, ...]]] = {
    KEY: (TEXT, ()),
    "姓名": (TEXT, ()),
    "增减员": (SINGLE_SELECT, tuple(RECORD_TYPE.values())),
    "险种": (SINGLE_SELECT, tuple(INSURANCE_TYPE.values())),
    "生效月份": (TEXT, ()),
    "参保城市": (TEXT, ()),
    "缴纳主体": (TEXT, ()),
    STATE: (SINGLE_SELECT, tuple(LABELS.values())),
    BY: (TEXT, ()),
    AT: (DATE, ()),
    REASON: (TEXT, ()),
}
STATE_OF = {label: state for state, label in LABELS.items()}
AUDIT_KIND = "增减员申报状态"
PLACE = "多维表格"


def client(services: Services) -> BitableClient | None:
    """The process's one client for the configured table (its pacers shared by every sync), or None."""
    settings = settings_of(services)
    if not settings.hrbot_adjust_bitable_app_token:
        return None
    return services.provider(
        "feishu-bitable",
        lambda s: BitableClient(
            s.feishu, settings.hrbot_adjust_bitable_app_token, settings.hrbot_adjust_bitable_table_id
        ),
    )


async def sync_table(services: Services, lines: Sequence[RecordLine] | None, keys: Collection[str]) -> bool:
    """Sync the records `keys` with the table (`lines` give a missing row's cells; None: only rows the table has).
    True when the table was reached, so the caller reads the states again."""
    api = client(services)
    if api is None or not keys:
        return False
    try:
        async with api.lock:
            # Read under the lock: another sync may just have agreed on some of them with the table.
            await _sync(services, api, lines or [], await states(services.store, keys))
    except (FeishuError, OSError) as exc:
        log.warning("the 增减员 多维表格 could not be synced: %s", exc)
        return False
    return True


async def _sync(
    services: Services, api: BitableClient, lines: Sequence[RecordLine], rows: Mapping[str, Filing]
) -> None:
    await ensure_fields(api)
    table = {str(r.fields.get(KEY) or ""): r async for r in api.records([KEY, STATE, REASON])}
    where = {
        record_key(line.open_id, line.record_type, kind, line.month): (line, kind)
        for line in lines
        for kind in line.insurance_types
    }
    names = await services.feishu.names({f.by for f in rows.values() if f.by and f.by != BITABLE_ACTOR})
    from_table: dict[tuple[str, str], list[str]] = {}
    updates: list[BitableRecord] = []
    creates: list[dict[str, object]] = []
    agreed: dict[str, str] = {}
    for key, filing in rows.items():
        row = table.get(key)
        if row is None:
            if key in where:
                line, kind = where[key]
                creates.append({**_record_cells(key, line, kind), **_state_cells(filing, names)})
                agreed[key] = filing.state
            continue
        in_table = STATE_OF.get(str(row.fields.get(STATE) or ""), "")
        if in_table and in_table != filing.synced and in_table != filing.state:
            reason = str(row.fields.get(REASON) or "") if in_table == NOT_NEEDED else ""
            from_table.setdefault((in_table, reason[:200]), []).append(key)
            agreed[key] = in_table
        elif in_table != filing.state:
            updates.append(BitableRecord(row.record_id, _state_cells(filing, names)))
            agreed[key] = filing.state
        elif filing.synced != filing.state:
            agreed[key] = filing.state
    now = services.clock.now()
    for (state, reason), keys in from_table.items():
        changed = await mark(services.store, keys, state, by=BITABLE_ACTOR, reason=reason, at=now)
        await services.store.audit(
            actor=BITABLE_ACTOR,
            action=AUDIT_KIND,
            subject=f"{changed} 条{LABELS[state]}",
            outcome=LABELS[state],
            place=PLACE,
        )
    await api.batch_update(updates)
    await api.batch_create(creates)
    await _save_agreed(services, agreed)
    log.info(
        "多维表格 synced: %d read back, %d updated, %d created",
        sum(len(k) for k in from_table.values()),
        len(updates),
        len(creates),
    )


async def ensure_fields(api: BitableClient) -> None:
    have = await api.fields()
    for name, (kind, options) in FIELDS.items():
        if name not in have:
            await api.create_field(name, kind, options)


def _record_cells(key: str, line: RecordLine, kind: str) -> dict[str, object]:
    return {
        KEY: key,
        "姓名": line.name,
        "增减员": RECORD_TYPE.get(line.record_type, line.record_type),
        "险种": INSURANCE_TYPE.get(kind, kind),
        "生效月份": line.month,
        "参保城市": line.city,
        "缴纳主体": line.entity,
    }


def _state_cells(filing: Filing, names: Mapping[str, str]) -> dict[str, object]:
    decided = filing.state in DECIDED
    by = PLACE if filing.by == BITABLE_ACTOR else names.get(filing.by, "")
    return {
        STATE: LABELS[filing.state],
        BY: by if decided else "",
        AT: _millis(filing.at) if decided and filing.at else None,
        REASON: filing.reason if filing.state == NOT_NEEDED else "",
    }


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def _save_agreed(services: Services, agreed: Mapping[str, str]) -> None:
    if not agreed:
        return
    c = filing_states.c
    async with services.store.engine.begin() as conn:
        await conn.execute(
            update(filing_states).where(c.record_key == bindparam("k")).values(synced=bindparam("s")),
            [{"k": key, "s": state} for key, state in agreed.items()],
        )
