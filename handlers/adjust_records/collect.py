"""Every employee's 增减员 records as lines HR files: fetched in paced batches, ids named, fingerprinted."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field

from bot.lifecycle.services import Services
from bot.providers.base import ProviderError
from bot.providers.compensation import MAX_IDS, RECORD_TYPES, AdjustDetail, AdjustRecord, client
from bot.trust.masking import mask_tail
from cards.adjust_records import FREQUENCY, INSURANCE_TYPE, STATUS, UNKNOWN_CITY, DetailRow, RecordLine
from handlers.adjust_records.contacts import members
from handlers.adjust_records.names import NameBook, Place
from handlers.adjust_records.settings import settings_of

log = logging.getLogger("hrbot.adjust_records")

# Batches in flight at once; the pacer decides the actual request rate.
MAX_BATCHES_IN_FLIGHT = 8


@dataclass
class Collection:
    lines: list[RecordLine] = field(default_factory=list)
    employees: int = 0
    failed_parts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Pending:
    name: str
    record: AdjustRecord
    month: str
    details: tuple[AdjustDetail, ...]
    location_id: str
    company_id: str


async def collect_records(services: Services) -> Collection:
    """Employees of the configured departments → both record types in batches of 200, paced to 10 requests/s."""
    api = client(services)
    result = Collection()
    pending: list[_Pending] = []
    names: dict[str, str] = {}
    in_flight: set[asyncio.Task[None]] = set()
    batch: list[str] = []
    batch_number = 0

    async def fetch(number: int, ids: list[str]) -> None:
        by_type: dict[str, list[AdjustRecord]] = {}
        for record_type in RECORD_TYPES:
            try:
                by_type[record_type] = await api.adjust_records(ids, record_type)
            except Exception as exc:
                # Whatever failed, the digest names the part it lacks; no employee drops out silently.
                reason = exc.user_message if isinstance(exc, ProviderError) else "飞书服务暂时不可用"
                if not isinstance(exc, ProviderError):
                    log.exception("digest batch %d failed", number)
                kind = "增员" if record_type == "increase" else "减员"
                result.failed_parts.append(f"第 {number} 批（{len(ids)} 人）的{kind}记录：{reason}")
        pending.extend(_pending_lines(by_type, names))

    async def launch(ids: list[str]) -> None:
        nonlocal batch_number
        batch_number += 1
        if len(in_flight) >= MAX_BATCHES_IN_FLIGHT:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(fetch(batch_number, ids))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    async for user in members(services.feishu, settings_of(services).digest_department_ids):
        open_id = str(user["open_id"])
        names[open_id] = str(user.get("name") or "")
        result.employees += 1
        batch.append(open_id)
        if len(batch) == MAX_IDS:
            await launch(batch)
            batch = []
    if batch:
        await launch(batch)
    if in_flight:
        await asyncio.gather(*in_flight)
    result.failed_parts.sort()
    result.lines = await name_lines(services, pending)
    return result


def _pending_lines(by_type: dict[str, list[AdjustRecord]], names: dict[str, str]) -> list[_Pending]:
    # seed 004: attrition records carry no location or company; the person's latest 增员 says where they were insured.
    insured_at: dict[str, tuple[str, str]] = {}
    for record in sorted(
        by_type.get("increase", []), key=lambda r: max((d.effective_date for d in r.details), default="")
    ):
        for detail in record.details:
            if detail.location_id or detail.company_id:
                insured_at[record.user_id] = (detail.location_id, detail.company_id)
    lines = []
    for record_type in RECORD_TYPES:
        for record in by_type.get(record_type, []):
            by_month: dict[str, list[AdjustDetail]] = {}
            for detail in record.details:
                by_month.setdefault(detail.effective_month, []).append(detail)
            for month, details in by_month.items():
                first = next((d for d in details if d.location_id or d.company_id), None)
                location, company = (
                    (first.location_id, first.company_id)
                    if first
                    else insured_at.get(record.user_id, ("", ""))
                )
                lines.append(
                    _Pending(names.get(record.user_id, ""), record, month, tuple(details), location, company)
                )
    return lines


async def name_lines(services: Services, pending: list[_Pending]) -> list[RecordLine]:
    book = NameBook(services.feishu, services.store)
    locations = await book.locations(p.location_id for p in pending)
    companies = await book.companies(p.company_id for p in pending)
    insurances = await book.insurances() if pending else {}
    lines = []
    for item in pending:
        place = locations.get(item.location_id, Place(""))
        rows = tuple(_detail_row(d, insurances) for d in item.details)
        key = f"{item.record.user_id}:{item.record.record_type}:{item.month}"
        fingerprint = hashlib.sha256(
            json.dumps(
                [item.location_id, item.company_id, [asdict(r) for r in rows]], ensure_ascii=False
            ).encode()
        ).hexdigest()[:16]
        lines.append(
            RecordLine(
                key=key,
                open_id=item.record.user_id,
                name=item.name or "同事",
                record_type=item.record.record_type,
                month=item.month,
                city=place.name or UNKNOWN_CITY,
                city_code=place.code,
                entity=companies.get(item.company_id, Place("")).name,
                insurance_types=tuple(dict.fromkeys(d.insurance_type for d in item.details)),
                base_salary=next((d.base_salary for d in item.details if d.base_salary), ""),
                fingerprint=fingerprint,
                details=rows,
            )
        )
    return lines


def _detail_row(detail: AdjustDetail, insurances: dict[str, str]) -> DetailRow:
    items = "；".join(
        f"{insurances.get(i.insurance_id, i.insurance_id)} 企业 {i.company_deduction or '—'}"
        f"（{i.company_ratio or '—'}%） 个人 {i.personal_deduction or '—'}（{i.personal_ratio or '—'}%）"
        f" {FREQUENCY.get(i.frequency, i.frequency)}"
        for i in detail.items
    )
    return DetailRow(
        insurance_type=INSURANCE_TYPE.get(detail.insurance_type, detail.insurance_type),
        status=STATUS.get(detail.insurance_status, detail.insurance_status),
        effective_date=detail.effective_date,
        base_salary=detail.base_salary,
        account=mask_tail(detail.insurance_account) if detail.insurance_account else "",
        items=items,
        description=detail.description,
    )
