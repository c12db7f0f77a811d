"""Social-insurance adjust record cards: a person's records, and the HR digest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.masking import mask_name, mask_tail
from cards.common import (
    FAILED,
    INFO,
    MAX_REQUEST_BYTES,
    WAITING,
    Card,
    Element,
    card,
    footer,
    markdown,
    note,
    panel,
    plain,
    request_bytes,
    table,
)

if TYPE_CHECKING:
    from bot.compensation import AdjustDetail, AdjustRecord

SOURCE = "飞书薪酬"
RECORD_TYPE = {"increase": "增员", "attrition": "减员"}
INSURANCE_TYPE = {"social_insurance": "社保", "provident_fund": "公积金"}
STATUS = {"contribution": "参保", "not_contribution": "不参保", "stopped_contribution": "停保"}
FREQUENCY = {"monthly": "每月", "quarterly": "每季度", "annually": "每年"}
# Headroom under Feishu's 30 KB request limit.
MAX_CARD_BYTES = MAX_REQUEST_BYTES - 1024
MAX_TABLES = 5


@dataclass(frozen=True)
class PersonRecords:
    open_id: str
    name: str
    records: tuple[AdjustRecord, ...]


def _money(value: str) -> str:
    return f"{value} 元" if value else "—"


def _ratio(value: str) -> str:
    return f"{value}%" if value else "—"


def _detail_elements(record_type: str, detail: AdjustDetail, *, as_table: bool) -> list[Element]:
    """A record's heading and items; the items as a table only where one is allowed (`as_table`), else as lines."""
    heading = (
        f"**{RECORD_TYPE.get(record_type, record_type)} · {INSURANCE_TYPE.get(detail.insurance_type, detail.insurance_type)}**"
        f" · {STATUS.get(detail.insurance_status, detail.insurance_status or '—')}"
        f" · 生效月份 {detail.effective_month or '—'}"
    )
    lines = [heading]
    if detail.description:
        lines.append(f"说明：{detail.description}")
    if detail.base_salary:
        lines.append(f"申报基数：{_money(detail.base_salary)}")
    if detail.location_id:
        lines.append(f"参保城市：{detail.location_id}")
    if detail.company_id:
        lines.append(f"缴纳主体：{detail.company_id}")
    if detail.insurance_account:
        lines.append(f"账号：{mask_tail(detail.insurance_account)}")
    elements: list[Element] = [markdown("\n".join(lines))]
    if detail.items and not as_table:
        elements.append(
            plain(
                "\n".join(
                    f"{f'险种 {item.insurance_id[-4:]}' if item.insurance_id else '—'}："
                    f"企业 {_money(item.company_deduction)}（{_ratio(item.company_ratio)}）"
                    f" · 个人 {_money(item.personal_deduction)}（{_ratio(item.personal_ratio)}）"
                    f" · {FREQUENCY.get(item.frequency, item.frequency or '—')}"
                    for item in detail.items
                )
            )
        )
    elif detail.items:
        rows = [
            {
                "item": f"险种 {item.insurance_id[-4:]}" if item.insurance_id else "—",
                "company": _money(item.company_deduction),
                "company_ratio": _ratio(item.company_ratio),
                "personal": _money(item.personal_deduction),
                "personal_ratio": _ratio(item.personal_ratio),
                "frequency": FREQUENCY.get(item.frequency, item.frequency or "—"),
            }
            for item in detail.items
        ]
        columns = [
            ("item", "险种"),
            ("company", "企业缴纳"),
            ("company_ratio", "企业比例"),
            ("personal", "个人缴纳"),
            ("personal_ratio", "个人比例"),
            ("frequency", "频率"),
        ]
        elements.append(table(columns, rows))
    return elements


def records_card(people: Sequence[PersonRecords], *, queried_at: datetime, viewer: str) -> Card:
    """One card, a section per person; names masked unless only the requester (or HR in private) sees it."""
    elements: list[Element] = []
    # Feishu allows tables only at the card's root and at most five per card: a lone person's first records get
    # tables, the rest (and everything inside a person's panel) read as lines.
    tables_left = MAX_TABLES if len(people) == 1 else 0
    for person in people:
        name = _shown_name(person, viewer)
        body: list[Element] = []
        for record in person.records:
            for detail in record.details:
                as_table = tables_left > 0 and bool(detail.items)
                tables_left -= as_table
                body.extend(_detail_elements(record.record_type, detail, as_table=as_table))
        if not body:
            body = [markdown("暂无社保或公积金增减员记录。")]
        if len(people) == 1:
            elements.append(plain(name))
            elements.extend(body)
        else:
            count = sum(len(r.details) for r in person.records)
            # Not bold: a masked name's stars would run into the markdown markers.
            elements.append(panel(f"{name} · {count} 条记录", body, expanded=True))
    elements.append(footer(SOURCE, queried_at))
    title = "社保增减员记录" if len(people) != 1 else f"社保增减员记录 · {_shown_name(people[0], viewer)}"
    return card(title, INFO, elements)


def _shown_name(person: PersonRecords, viewer: str) -> str:
    """Full name on one's own record only; anyone else's is masked (CARDS.md)."""
    return person.name if person.open_id == viewer else mask_name(person.name)


def moved_private_card() -> Card:
    return card("社保增减员记录", INFO, [markdown("增减员记录含缴费基数等薪资信息，已私聊发给你。")])


def refusal_card() -> Card:
    return card(
        "无法查询他人记录",
        FAILED,
        [markdown("只有 HR 可以查询其他同事的增减员记录。"), note("发送「增减员」可查询你自己的记录。")],
    )


@dataclass(frozen=True)
class DigestLine:
    key: str
    name: str
    record_type: str
    insurance_types: tuple[str, ...]
    month: str
    base_salary: str
    is_new: bool


@dataclass
class DigestData:
    lines: list[DigestLine] = field(default_factory=list)
    employees: int = 0
    failed_parts: list[str] = field(default_factory=list)


def digest_card(
    data: DigestData, *, queried_at: datetime, max_per_group: int = 15, title_suffix: str = ""
) -> Card:
    """Counts first, then per effective month and type the people, new ones marked; bounded in size."""
    increases = sum(1 for line in data.lines if line.record_type == "increase")
    attritions = sum(1 for line in data.lines if line.record_type == "attrition")
    new = sum(1 for line in data.lines if line.is_new)
    summary = [
        f"**增员 {increases} 人 · 减员 {attritions} 人**（其中新出现 {new} 条）",
        f"覆盖员工 {data.employees} 人",
    ]
    elements: list[Element] = [markdown("\n".join(summary))]
    if data.failed_parts:
        elements.append(
            markdown("⚠️ 以下部分未能获取，统计不完整：\n" + "\n".join(f"- {p}" for p in data.failed_parts))
        )
    if not data.lines:
        elements.append(markdown("本期没有增减员记录。"))

    groups: dict[tuple[str, str], list[DigestLine]] = {}
    for line in data.lines:
        groups.setdefault((line.month, line.record_type), []).append(line)
    for limit in (max_per_group, 8, 4, 0):
        panels = [
            _group_panel(month, record_type, lines, limit)
            for (month, record_type), lines in sorted(
                groups.items(), key=lambda g: (g[0][0], g[0][1]), reverse=True
            )
        ]
        candidate = card(
            f"社保增减员摘要{title_suffix}",
            WAITING if data.failed_parts else INFO,
            [*elements, *panels, footer(SOURCE, queried_at)],
        )
        if request_bytes(candidate) <= MAX_CARD_BYTES:
            return candidate
    return candidate


def _group_panel(month: str, record_type: str, lines: list[DigestLine], limit: int) -> Element:
    new = sum(1 for line in lines if line.is_new)
    ordered = sorted(lines, key=lambda line: (not line.is_new, line.name))
    shown = [
        f"{'🆕 ' if line.is_new else ''}{mask_name(line.name)} · "
        f"{'、'.join(INSURANCE_TYPE.get(t, t) for t in line.insurance_types)}"
        + (f" · 基数 {line.base_salary}" if line.base_salary else "")
        for line in ordered[:limit]
    ]
    if len(lines) > limit:
        shown.append(f"……还有 {len(lines) - limit} 人未显示")
    title = f"**{month or '未知月份'} · {RECORD_TYPE.get(record_type, record_type)}** {len(lines)} 人" + (
        f"（新 {new}）" if new else ""
    )
    return panel(title, [markdown("\n".join(shown))], expanded=False)
