"""增减员 cards: a person's records; the digest and filing reminders HR act on, grouped the way HR files them and
bounded for a phone."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.masking import mask_name, mask_tail
from cards.common import (
    FAILED,
    INFO,
    OK,
    WAITING,
    Card,
    Element,
    action_value,
    amount,
    button,
    button_row,
    card,
    divider,
    footer,
    markdown,
    money,
    note,
    panel,
    plain,
    table,
)
from cards.safe import md

if TYPE_CHECKING:
    from bot.providers.compensation import AdjustDetail, AdjustRecord

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
    # Full name and salary figures (handlers/adjust_records/audience.py decides); otherwise 张* and no figures.
    full: bool = False


@dataclass(frozen=True)
class RecordNames:
    """Names for the ids records carry; an id without a name is shown as the id."""

    locations: dict[str, str] = field(default_factory=dict)
    companies: dict[str, str] = field(default_factory=dict)
    insurances: dict[str, str] = field(default_factory=dict)


def _money(value: str) -> str:
    return money(amount(value)) if value else "—"


def _ratio(value: str) -> str:
    return f"{value}%" if value else "—"


def _detail_elements(record_type: str, detail: AdjustDetail, names: RecordNames, full: bool) -> list[Element]:
    heading = (
        f"**{md(RECORD_TYPE.get(record_type, record_type))} · "
        f"{md(INSURANCE_TYPE.get(detail.insurance_type, detail.insurance_type))}**"
        f" · {md(STATUS.get(detail.insurance_status, detail.insurance_status or '—'))}"
        f" · 生效月份 {md(detail.effective_month or '—')}"
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
                "company": amount(item.company_deduction) if full else None,
                "company_ratio": _ratio(item.company_ratio),
                "personal": amount(item.personal_deduction) if full else None,
                "personal_ratio": _ratio(item.personal_ratio),
                "frequency": FREQUENCY.get(item.frequency, item.frequency or "—"),
            }
            for item in detail.items
        ]
        columns = [
            ("item", "险种"),
            ("company", "企业缴纳（元）"),
            ("company_ratio", "企业比例"),
            ("personal", "个人缴纳（元）"),
            ("personal_ratio", "个人比例"),
            ("frequency", "频率"),
        ]
        elements.append(table(columns, rows, numbers={"company": 2, "personal": 2}))
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


# The digest and reminders ----------------------------------------------------------------------------------------------
UNKNOWN_CITY = "未知城市"
MAX_LINES = 30
# Cards of the full list stay well under Feishu's 30 KB request limit.
MAX_PART_BYTES = 24 * 1024
ALL_ACTION = "adjust_records.digest_all"
EXPORT_ACTION = "adjust_records.digest_export"


@dataclass(frozen=True)
class DetailRow:
    """One detail of a record (社保 or 公积金) with every field, for the export."""

    insurance_type: str
    status: str
    effective_date: str
    base_salary: str
    account: str
    items: str
    description: str


@dataclass(frozen=True)
class RecordLine:
    """One person's 增员 or 减员 in one effective month: what HR files."""

    key: str
    open_id: str
    name: str
    record_type: str
    month: str
    city: str
    city_code: str
    entity: str
    insurance_types: tuple[str, ...]
    base_salary: str
    fingerprint: str
    details: tuple[DetailRow, ...] = ()
    status: str = ""  # "new" | "changed" | "" (unchanged since the previous digest)


@dataclass
class DigestView:
    lines: list[RecordLine]  # what this digest reports (changes, or everything for a chat's first digest)
    current_month: str
    full: bool  # full names and salary figures (see handlers/adjust_records/audience.py)
    employees: int = 0
    total: int = 0  # records on file now
    since: datetime | None = None  # the previous digest for this chat; None: the first one
    failed_parts: list[str] = field(default_factory=list)
    snapshot: str = ""


def untrusted(text: str) -> Element:
    """Names and provider text as a line of their own: escaped markdown, so they render as typed."""
    return markdown(md(text))


def shown_name(line: RecordLine, full: bool) -> str:
    return line.name if full else mask_name(line.name) or "同事"


def _line_text(line: RecordLine, full: bool) -> str:
    mark = {"new": "🆕 ", "changed": "✏️ "}.get(line.status, "")
    kinds = "、".join(INSURANCE_TYPE.get(t, t) for t in line.insurance_types) or "—"
    base = f" · 基数 {_money(line.base_salary)}" if full and line.base_salary else ""
    return f"{mark}{shown_name(line, full)} · {kinds}{base}"


def month_label(month: str, current_month: str) -> str:
    label = month or "未知月份"
    return f"{label} · 预定生效" if month > current_month else label


def filing_months(months: Iterable[str], current_month: str) -> list[str]:
    """The month HR files now first, then the months booked ahead (soonest first), then earlier months (newest
    first): a digest's line budget goes to what must be filed now."""
    months = set(months)
    ahead = sorted(m for m in months if m > current_month)
    before = sorted((m for m in months if m < current_month), reverse=True)
    return [m for m in months if m == current_month] + ahead + before


def grouped(
    lines: Sequence[RecordLine], current_month: str = ""
) -> list[tuple[str, list[tuple[str, str, str, list[RecordLine]]]]]:
    """The current month first (`filing_months`; newest first without one); in each, 增员 then 减员, then city and
    legal entity."""
    months: dict[str, dict[tuple[str, str, str], list[RecordLine]]] = {}
    for line in lines:
        months.setdefault(line.month, {}).setdefault((line.record_type, line.city, line.entity), []).append(
            line
        )
    order = {"increase": 0, "attrition": 1}
    result = []
    ordered = filing_months(months, current_month) if current_month else sorted(months, reverse=True)
    for month in ordered:
        groups = sorted(months[month].items(), key=lambda g: (order.get(g[0][0], 2), g[0][1], g[0][2]))
        result.append(
            (
                month,
                [
                    (kind, city, entity, sorted(ls, key=lambda x: x.name))
                    for (kind, city, entity), ls in groups
                ],
            )
        )
    return result


def _month_elements(
    lines: Sequence[RecordLine], current_month: str, full: bool, budget: int | None
) -> tuple[list[Element], int]:
    """Panels per month with the lines, at most `budget` lines in all; returns (elements, lines shown)."""
    elements: list[Element] = []
    shown = 0
    for month, groups in grouped(lines, current_month):
        counts = {kind: sum(len(g[3]) for g in groups if g[0] == kind) for kind in RECORD_TYPE}
        title = f"**{md(month_label(month, current_month))}** · 增员 {counts['increase']} · 减员 {counts['attrition']}"
        body: list[Element] = []
        for kind, city, entity, group in groups:
            take = group if budget is None else group[: max(0, budget - shown)]
            if not take:
                break
            where = " · ".join(part for part in (city or UNKNOWN_CITY, entity) if part)
            text = "\n".join(_line_text(line, full) for line in take)
            body.append(untrusted(f"{RECORD_TYPE.get(kind, kind)} · {where}（{len(group)} 人）\n{text}"))
            shown += len(take)
        if not body:
            body = [note("该月的记录未显示：见「查看全部」或导出的 Excel。")]
        elements.append(panel(title, body, expanded=True))
    return elements, shown


def _buttons(snapshot: str, *, show_all: bool) -> Element:
    buttons = []
    if show_all:
        buttons.append(button("查看全部", action_value(ALL_ACTION, snapshot=snapshot), name="digest_all"))
    buttons.append(
        button(
            "导出 Excel", action_value(EXPORT_ACTION, snapshot=snapshot), kind="primary", name="digest_export"
        )
    )
    return button_row(*buttons)


def digest_card(view: DigestView, *, queried_at: datetime, title: str = "社保增减员摘要") -> Card:
    increases = sum(1 for line in view.lines if line.record_type == "increase")
    attritions = len(view.lines) - increases
    new = sum(1 for line in view.lines if line.status == "new")
    changed = sum(1 for line in view.lines if line.status == "changed")
    if view.since is None:
        opening = (
            f"**本群第一份摘要：列出当前全部 {len(view.lines)} 条记录**（增员 {increases} 人 · 减员 {attritions} 人）。"
            "\n此后每份摘要只列出自上一份以来新增或变化的记录。"
        )
    elif view.lines:
        opening = (
            f"**自上一份摘要（{view.since:%Y-%m-%d %H:%M}）以来：新增 {new} 条 · 变化 {changed} 条**"
            f"（增员 {increases} 人 · 减员 {attritions} 人）"
        )
    else:
        opening = f"**自上一份摘要（{view.since:%Y-%m-%d %H:%M}）以来，没有新增或变化的增减员记录。**"
    facts = [f"现有记录 {view.total} 条", f"覆盖员工 {view.employees} 人"]
    if new or changed:
        facts.append("🆕 新增 ✏️ 变化")
    if any(line.month > view.current_month for line in view.lines):
        facts.append("晚于本月的为预定生效")
    elements: list[Element] = [markdown(opening), note(" · ".join(facts))]
    if not view.full:
        elements.append(note("此群不是全员 HR 的摘要群：姓名已隐去，不显示缴费基数。"))
    if view.failed_parts:
        elements.append(
            markdown(
                "⚠️ 以下部分未能获取，统计不完整：\n" + "\n".join(f"- {md(p)}" for p in view.failed_parts)
            )
        )
    body, shown = _month_elements(view.lines, view.current_month, view.full, MAX_LINES)
    elements.extend(body)
    if shown < len(view.lines):
        elements.append(
            note(f"还有 {len(view.lines) - shown} 条未显示：点「查看全部」（私聊发给 HR）或导出 Excel。")
        )
    if view.snapshot and (view.lines or view.total):
        elements.append(_buttons(view.snapshot, show_all=shown < len(view.lines)))
    elements.append(footer(SOURCE, queried_at))
    return card(title, WAITING if view.failed_parts else INFO, elements)


def digest_progress_card(title: str = "社保增减员摘要") -> Card:
    """Shown at once while the digest is collected; the digest replaces it. Reading every employee's records goes at
    the adjust-record API's limit of 10 requests a second (200 people each, 增员 and 减员 apart)."""
    return card(
        title,
        WAITING,
        [
            markdown("**正在生成增减员摘要…**"),
            note(
                "正在读取全公司员工的增减员记录，飞书每秒最多查询约 1,000 人，员工多时需要十几秒。完成后这张卡片会更新。"
            ),
        ],
    )


def reminder_card(
    city: str, cutoff: datetime, days_left: int, view: DigestView, *, queried_at: datetime
) -> Card:
    elements: list[Element] = [
        markdown(
            f"**{days_left} 天后（{cutoff:%m-%d}）是本月增减员申报截止日**，以下 {len(view.lines)} 条记录待申报。"
        ),
    ]
    if not view.full:
        elements.append(note("此群不是全员 HR 的摘要群：姓名已隐去，不显示缴费基数。"))
    body, shown = _month_elements(view.lines, view.current_month, view.full, MAX_LINES)
    elements.extend(body)
    if shown < len(view.lines):
        elements.append(note(f"还有 {len(view.lines) - shown} 条未显示。"))
    elements.append(_buttons(view.snapshot, show_all=shown < len(view.lines)))
    elements.append(footer(SOURCE, queried_at))
    return card(f"增减员申报提醒 · {city}", WAITING, elements)


def all_lines_cards(lines: Sequence[RecordLine], current_month: str, *, queried_at: datetime) -> list[Card]:
    """Every line, full names (only ever sent to HR privately), split into cards that each fit the size limit."""
    panels, _ = _month_elements(lines, current_month, True, None)
    parts: list[list[Element]] = [[]]
    for element in panels:
        for group in element["elements"]:
            piece = panel(element["header"]["title"]["content"], [group], expanded=True)
            trial = [*parts[-1], piece]
            if parts[-1] and len(json.dumps(trial, ensure_ascii=False).encode()) > MAX_PART_BYTES:
                parts.append([piece])
            else:
                parts[-1] = trial
    if not lines:
        parts = [[markdown("没有记录。")]]
    count = len(parts)
    return [
        card(
            f"增减员明细（{index}/{count}）" if count > 1 else "增减员明细",
            INFO,
            [*part, footer(SOURCE, queried_at)],
        )
        for index, part in enumerate(parts, start=1)
    ]


def digest_refusal_card() -> Card:
    return card(
        "增减员摘要仅供 HR",
        FAILED,
        [markdown("增减员摘要含全公司的增减员记录，只发给 HR。"), note("发送「增减员」可查询你自己的记录。")],
    )


def digest_moved_private_card() -> Card:
    return card(
        "增减员摘要已私聊发给你",
        INFO,
        [
            markdown("这个群不是增减员摘要群，摘要只私聊发给你。"),
            note("HR 可在全员为 HR 的群里发送「订阅增减员摘要」，让摘要定时发到群里。"),
        ],
    )


def notice_card(title: str, template: str, text: str, next_step: str | None = None) -> Card:
    elements: list[Element] = [untrusted(text)]
    if next_step:
        elements.append(note(next_step))
    return card(title, template, elements)


def subscribed_card(schedule: str) -> Card:
    return notice_card(
        "已订阅增减员摘要",
        OK,
        f"本群将按计划（{schedule}）收到增减员摘要，首份列出全部记录，之后只列新增或变化。",
        "发送「取消订阅增减员摘要」可取消。",
    )
