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
    Card,
    Element,
    card,
    divider,
    footer,
    markdown,
    note,
    plain,
    table,
)

if TYPE_CHECKING:
    from bot.compensation import AdjustDetail, AdjustRecord

SOURCE = "飞书薪酬"
RECORD_TYPE = {"increase": "增员", "attrition": "减员"}
INSURANCE_TYPE = {"social_insurance": "社保", "provident_fund": "公积金"}
STATUS = {"contribution": "参保", "not_contribution": "不参保", "stopped_contribution": "停保"}
FREQUENCY = {"monthly": "每月", "quarterly": "每季度", "annually": "每年"}


@dataclass(frozen=True)
class PersonRecords:
    open_id: str
    name: str
    records: tuple[AdjustRecord, ...]
    # Full name and salary figures (handlers/adjust_records_audience.py decides); otherwise 张* and no figures.
    full: bool = False


@dataclass(frozen=True)
class RecordNames:
    """Names for the ids records carry; an id without a name is shown as the id."""

    locations: dict[str, str] = field(default_factory=dict)
    companies: dict[str, str] = field(default_factory=dict)
    insurances: dict[str, str] = field(default_factory=dict)


def _money(value: str) -> str:
    return f"{value} 元" if value else "—"


def _ratio(value: str) -> str:
    return f"{value}%" if value else "—"


def _detail_elements(record_type: str, detail: AdjustDetail, names: RecordNames, full: bool) -> list[Element]:
    heading = (
        f"**{RECORD_TYPE.get(record_type, record_type)} · {INSURANCE_TYPE.get(detail.insurance_type, detail.insurance_type)}**"
        f" · {STATUS.get(detail.insurance_status, detail.insurance_status or '—')}"
        f" · 生效月份 {detail.effective_month or '—'}"
    )
    elements: list[Element] = [markdown(heading)]
    # Provider text (description, names) is data: plain text, never markdown.
    lines = []
    if detail.description:
        lines.append(f"说明：{detail.description}")
    if detail.base_salary and full:
        lines.append(f"申报基数：{_money(detail.base_salary)}")
    if detail.location_id:
        lines.append(f"参保城市：{names.locations.get(detail.location_id, detail.location_id)}")
    if detail.company_id:
        lines.append(f"缴纳主体：{names.companies.get(detail.company_id, detail.company_id)}")
    if detail.insurance_account:
        lines.append(f"账号：{mask_tail(detail.insurance_account)}")
    if lines:
        elements.append(plain("\n".join(lines)))
    if detail.items:
        rows = [
            {
                "item": names.insurances.get(item.insurance_id, item.insurance_id) or "—",
                "company": _money(item.company_deduction) if full else "—",
                "company_ratio": _ratio(item.company_ratio),
                "personal": _money(item.personal_deduction) if full else "—",
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


def records_card(
    people: Sequence[PersonRecords], *, queried_at: datetime, names: RecordNames | None = None
) -> Card:
    """One card, a section per person; each name full or masked as `PersonRecords.full` says."""
    names = names or RecordNames()
    elements: list[Element] = []
    tables = 0
    for person in people:
        body: list[Element] = []
        for record in person.records:
            for detail in record.details:
                parts = _detail_elements(record.record_type, detail, names, person.full)
                # Feishu allows at most five tables per card (and only at the body root, where these sit).
                if tables >= 5:
                    parts = [p for p in parts if p["tag"] != "table"]
                tables += sum(1 for p in parts if p["tag"] == "table")
                body.extend(parts)
        if not body:
            body = [markdown("暂无社保或公积金增减员记录。")]
        if len(people) == 1:
            elements.append(plain(_shown_name(person)))
        else:
            if elements:
                elements.append(divider())
            count = sum(len(r.details) for r in person.records)
            elements.append(plain(f"{_shown_name(person)} · {count} 条记录"))
        elements.extend(body)
    elements.append(footer(SOURCE, queried_at))
    title = "社保增减员记录" if len(people) != 1 else f"社保增减员记录 · {_shown_name(people[0])}"
    return card(title, INFO, elements)


def _shown_name(person: PersonRecords) -> str:
    return person.name if person.full else mask_name(person.name)


def moved_private_card() -> Card:
    return card("社保增减员记录", INFO, [markdown("增减员记录含缴费基数等薪资信息，已私聊发给你。")])


def refusal_card() -> Card:
    return card(
        "无法查询他人记录",
        FAILED,
        [markdown("只有 HR 可以查询其他同事的增减员记录。"), note("发送「增减员」可查询你自己的记录。")],
    )


def not_found_card(
    missing: Sequence[str], ambiguous: Sequence[tuple[str, int]], *, too_many: bool = False
) -> Card:
    if too_many:
        return card("查询人数过多", FAILED, [markdown("一次最多查询 20 位同事，请分几次查询。")])
    lines = [f"找不到 {name}" for name in missing]
    lines += [f"有 {count} 位同事叫 {name}" for name, count in ambiguous]
    return card(
        "找不到要查询的同事",
        FAILED,
        [plain("\n".join(lines)), note("请用 @、邮箱、手机号或完整姓名指明同事后重试。")],
    )
