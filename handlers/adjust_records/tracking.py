"""增减员 lines with their filing states: the records as collected now, reconciled with the stored states (and with the
company's 多维表格 when one is configured), each line carrying where HR is with it."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, replace

from bot.lifecycle.services import Services
from cards.adjust_records import INSURANCE_TYPE, FilingMark, RecordLine
from handlers.adjust_records.bitable import sync_table
from handlers.adjust_records.collect import Collection, collect_records
from handlers.adjust_records.filing_state import BITABLE_ACTOR, Filing, reconcile, record_key, states

log = logging.getLogger("hrbot.adjust_records")


def record_keys(line: RecordLine) -> list[str]:
    """The line's records: one per insurance kind."""
    return [record_key(line.open_id, line.record_type, kind, line.month) for kind in line.insurance_types]


def record_fingerprints(line: RecordLine) -> dict[str, str]:
    """Per record, a fingerprint of what HR files: where, and that kind's details."""
    found = {}
    for kind in line.insurance_types:
        label = INSURANCE_TYPE.get(kind, kind)
        rows = [asdict(d) for d in line.details if d.insurance_type == label]
        payload = json.dumps([line.city_code, line.entity, rows], ensure_ascii=False).encode()
        found[record_key(line.open_id, line.record_type, kind, line.month)] = hashlib.sha256(
            payload
        ).hexdigest()[:16]
    return found


async def collect_with_filings(services: Services) -> Collection:
    """Every record as collected now, with its state (one sync with the 多维表格 for all the chats it goes to)."""
    collection = await collect_records(services)
    collection.lines = await with_filings(services, collection.lines)
    return collection


async def with_filings(services: Services, lines: Sequence[RecordLine]) -> list[RecordLine]:
    """`lines` with their states: new records become 待申报, decided ones whose fields changed 有变更; with a 多维表格
    configured, the table's changes are read back first and the bot's written to it."""
    fingerprints: dict[str, str] = {}
    for line in lines:
        fingerprints.update(record_fingerprints(line))
    rows = await reconcile(services.store, fingerprints)
    if await sync_table(services, lines, fingerprints):
        rows = await states(services.store, fingerprints)
    return await attach(services, lines, rows)


async def attach(
    services: Services, lines: Sequence[RecordLine], rows: dict[str, Filing]
) -> list[RecordLine]:
    names = await services.feishu.names({f.by for f in rows.values() if f.by and f.by != BITABLE_ACTOR})
    attached = []
    for line in lines:
        marks = []
        for kind, key in zip(line.insurance_types, record_keys(line), strict=True):
            filing = rows.get(key)
            if filing is not None:
                by = "多维表格" if filing.by == BITABLE_ACTOR else names.get(filing.by, "")
                at = services.local(filing.at) if filing.at else None
                marks.append(FilingMark(kind, filing.state, by, at, filing.reason))
        attached.append(replace(line, filings=tuple(marks)))
    return attached
