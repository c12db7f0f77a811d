"""增减员 cards: a person's records; the digest and filing reminders HR act on, grouped the way HR files them and
bounded for a phone."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.trust.masking import mask_name, mask_tail
from cards.common import (
    FAILED,
    INFO,
    MAX_REQUEST_BYTES,
    OK,
    WAITING,
    Card,
    Element,
    action_value,
    amount,
    button,
    button_row,
    card,
    card_json,
    divider,
    footer,
    markdown,
    money,
    note,
    panel,
    plain,
    request_bytes,
    select,
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
LINE_ACTION = "adjust_records.filing_line"
GROUP_ACTION = "adjust_records.filing_group"
UNDO = "undo"
# Lines with a state menu each: the card stays well under 30 KB.
MAX_CONTROLLED_LINES = 15
TEXT_LINES = 50


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


PENDING, FILED, NOT_NEEDED, CHANGED = "pending", "filed", "not_needed", "changed"
FILING_LABEL = {PENDING: "待申报", FILED: "已申报", NOT_NEEDED: "无需申报", CHANGED: "有变更"}
FILING_ICON = {PENDING: "⏳", FILED: "✅", NOT_NEEDED: "➖", CHANGED: "⚠️"}
# 无需申报 needs a reason: these are the ones HR picks on a card (the Bitable takes any text).
NOT_NEEDED_REASONS = {"a": "代理机构申报", "e": "已在别处申报", "o": "其他原因"}


@dataclass(frozen=True)
class FilingMark:
    """One insurance kind's filing state; `by` is a name."""

    insurance_type: str
    state: str
    by: str = ""
    at: datetime | None = None
    reason: str = ""

    def text(self) -> str:
        label = FILING_LABEL.get(self.state, self.state)
        if self.state == FILED and self.by:
            when = f" {self.at:%m-%d}" if self.at else ""
            return f"{label}（{self.by}{when}）"
        if self.state == NOT_NEEDED and self.reason:
            return f"{label}（{self.reason}）"
        return label


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
    # One per insurance kind, in `insurance_types` order: where HR is with filing it.
    filings: tuple[FilingMark, ...] = ()

    @property
    def filing_state(self) -> str:
        """The line's state as HR reads it: 有变更 or 待申报 while any kind is open, else 已申报 / 无需申报."""
        found = {f.state for f in self.filings}
        for state in (CHANGED, PENDING, FILED, NOT_NEEDED):
            if state in found:
                return state
        return ""


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
    # State buttons (已申报 / 无需申报 / 撤销): only for HR reading privately or in an all-HR digest chat.
    controls: bool = False


def untrusted(text: str) -> Element:
    """Names and provider text as a line of their own: escaped markdown, so they render as typed."""
    return markdown(md(text))


def shown_name(line: RecordLine, full: bool) -> str:
    return line.name if full else mask_name(line.name) or "同事"


def _line_text(line: RecordLine, full: bool) -> str:
    mark = {"new": "🆕 ", "changed": "✏️ "}.get(line.status, "")
    kinds = "、".join(INSURANCE_TYPE.get(t, t) for t in line.insurance_types) or "—"
    base = f" · 基数 {_money(line.base_salary)}" if full and line.base_salary else ""
    return f"{mark}{shown_name(line, full)} · {kinds}{base}{_filing_text(line)}"


def _filing_text(line: RecordLine) -> str:
    if not line.filings:
        return ""
    texts = {f.text() for f in line.filings}
    if len(texts) == 1:
        return f" · {FILING_ICON.get(line.filing_state, '')}{texts.pop()}"
    # The two kinds stand differently: say each.
    each = "，".join(
        f"{INSURANCE_TYPE.get(f.insurance_type, f.insurance_type)}{f.text()}" for f in line.filings
    )
    return f" · {FILING_ICON.get(line.filing_state, '')}{each}"


def group_id(month: str, kind: str, city: str, entity: str) -> str:
    """A short id a group's buttons carry; the snapshot maps it to the group's lines."""
    return hashlib.sha256(f"{month}|{kind}|{city}|{entity}".encode()).hexdigest()[:12]


def _line_controls(line: RecordLine, text: str, snapshot: str, number: int) -> Element:
    """A line with its state menu: 已申报, 无需申报 with a reason, or 撤销 (the previous state back)."""
    # Short texts and values: fifteen lines of menus stay well under the 30 KB a card may have.
    options = [("已申报", FILED)]
    options += [(f"无需申报·{reason}", f"{NOT_NEEDED}:{code}") for code, reason in NOT_NEEDED_REASONS.items()]
    options.append(("撤销", UNDO))
    menu = select(
        f"f{number}",
        options,
        placeholder="标记",
        value=action_value(LINE_ACTION, snapshot=snapshot, line=line.key),
    )
    del menu["required"]
    return {
        "tag": "column_set",
        "columns": [
            {"tag": "column", "width": "weighted", "weight": 3, "elements": [untrusted(text)]},
            {"tag": "column", "width": "weighted", "weight": 2, "elements": [menu]},
        ],
    }


def _group_controls(gid: str, snapshot: str, number: int, count: int) -> Element:
    """本组已申报, and a menu: 本组无需申报 with a reason, or 撤销 (each record's previous state back)."""
    options = [(f"无需申报·{reason}", f"{NOT_NEEDED}:{code}") for code, reason in NOT_NEEDED_REASONS.items()]
    options.append(("撤销本组标记", UNDO))
    return button_row(
        button(
            f"本组 {count} 条已申报",
            action_value(GROUP_ACTION, snapshot=snapshot, group=gid, state=FILED),
            kind="primary",
            name=f"g{number}",
        ),
        select(
            f"f{number}",
            options,
            placeholder="本组其他标记",
            value=action_value(GROUP_ACTION, snapshot=snapshot, group=gid, state=""),
        ),
    )


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


def _group_blocks(
    lines: Sequence[RecordLine],
    current_month: str,
    full: bool,
    budget: int | None,
    controls: str = "",
    *,
    per_line: bool = True,
) -> tuple[list[tuple[str, list[Element]]], int]:
    """(month title, elements) per month with the lines, at most `budget` lines in all; returns them and the lines
    shown. With `controls` (the card's snapshot) each group has its state buttons, and each line its state menu
    when `per_line`."""
    blocks: list[tuple[str, list[Element]]] = []
    shown = 0
    numbers = itertools.count(1)
    for month, groups in grouped(lines, current_month):
        counts = {kind: sum(len(g[3]) for g in groups if g[0] == kind) for kind in RECORD_TYPE}
        title = f"**{md(month_label(month, current_month))}** · 增员 {counts['increase']} · 减员 {counts['attrition']}"
        body: list[Element] = []
        for kind, city, entity, group in groups:
            take = group if budget is None else group[: max(0, budget - shown)]
            if not take:
                break
            where = " · ".join(part for part in (city or UNKNOWN_CITY, entity) if part)
            heading = f"{RECORD_TYPE.get(kind, kind)} · {where}（{len(group)} 人）"
            if controls and per_line:
                body.append(untrusted(heading))
                body.extend(
                    _line_controls(line, _line_text(line, full), controls, next(numbers)) for line in take
                )
            else:
                # A long group in pieces, so a card of the full list can end between them.
                for start in range(0, len(take), TEXT_LINES):
                    text = "\n".join(_line_text(line, full) for line in take[start : start + TEXT_LINES])
                    body.append(untrusted(f"{heading}{'（续）' if start else ''}\n{text}"))
            # A group of one has its line's menu: no group buttons.
            if controls and (len(group) > 1 or not per_line):
                gid = group_id(month, kind, city, entity)
                body.append(_group_controls(gid, controls, next(numbers), len(group)))
            shown += len(take)
        blocks.append((title, body))
    return blocks, shown


def _month_elements(
    lines: Sequence[RecordLine],
    current_month: str,
    full: bool,
    budget: int | None,
    controls: str = "",
    *,
    per_line: bool = True,
) -> tuple[list[Element], int]:
    """Panels per month with the lines, at most `budget` lines in all; returns (elements, lines shown)."""
    blocks, shown = _group_blocks(lines, current_month, full, budget, controls, per_line=per_line)
    elements = [
        panel(title, body or [note("该月的记录未显示：见「查看全部」或导出的 Excel。")], expanded=True)
        for title, body in blocks
    ]
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
    tally = filing_tally(view.lines)
    if tally:
        facts.append(tally)
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

    def build(body: list[Element], shown: int) -> Card:
        rest: list[Element] = []
        if shown < len(view.lines):
            rest.append(
                note(f"还有 {len(view.lines) - shown} 条未显示：点「查看全部」（私聊发给 HR）或导出 Excel。")
            )
        if view.snapshot and (view.lines or view.total):
            rest.append(_buttons(view.snapshot, show_all=shown < len(view.lines)))
        rest.append(footer(SOURCE, queried_at))
        return card(title, WAITING if view.failed_parts else INFO, [*elements, *body, *rest])

    return _fitted(view, build)


def _closing(
    view: DigestView, queried_at: datetime, title: str, template: str, head: list[Element]
) -> Callable[[list[Element], int], Card]:
    """A reminder's card around its lines: what is not shown, 查看全部 / 导出, the footer."""

    def build(body: list[Element], shown: int) -> Card:
        rest: list[Element] = []
        if shown < len(view.lines):
            rest.append(note(f"还有 {len(view.lines) - shown} 条未显示。"))
        rest.append(_buttons(view.snapshot, show_all=shown < len(view.lines)))
        rest.append(footer(SOURCE, queried_at))
        return card(title, template, [*head, *body, *rest])

    return build


def _fitted(view: DigestView, build: Callable[[list[Element], int], Card]) -> Card:
    """The card with as many lines as fit in Feishu's 30 KB: a state menu per line while they fit (fewer lines
    first), then the groups' buttons only, then no buttons."""
    controls = _controls(view)
    attempts = [(budget, controls, True) for budget in (MAX_CONTROLLED_LINES, 10, 5)] if controls else []
    attempts += [(MAX_LINES, controls, False), (MAX_LINES, "", False)]
    for budget, with_controls, per_line in attempts:
        body, shown = _month_elements(
            view.lines, view.current_month, view.full, budget, with_controls, per_line=per_line
        )
        built = build(body, shown)
        if request_bytes(built) <= MAX_REQUEST_BYTES:
            break
    return built


def _controls(view: DigestView) -> str:
    return view.snapshot if view.controls and view.full else ""


def filing_tally(lines: Sequence[RecordLine]) -> str:
    """ "12 条待申报（2 条有变更） · 30 条已申报 · 1 条无需申报"; empty when no line has a state."""
    counts: dict[str, int] = {}
    for line in lines:
        if line.filing_state:
            counts[line.filing_state] = counts.get(line.filing_state, 0) + 1
    if not counts:
        return ""
    waiting = counts.get(PENDING, 0) + counts.get(CHANGED, 0)
    parts = [f"{waiting} 条待申报" + (f"（{counts[CHANGED]} 条有变更）" if counts.get(CHANGED) else "")]
    parts.append(f"{counts.get(FILED, 0)} 条已申报")
    if counts.get(NOT_NEEDED):
        parts.append(f"{counts[NOT_NEEDED]} 条无需申报")
    return "，".join(parts)


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
    city: str,
    cutoff: datetime,
    days_left: int,
    view: DigestView,
    *,
    queried_at: datetime,
    tally: str = "",
) -> Card:
    """`view.lines`: what is still to file in `city`; `tally`: the city's counts, done ones included."""
    elements: list[Element] = [
        markdown(
            f"**{days_left} 天后（{cutoff:%m-%d}）是本月增减员申报截止日**，以下 {len(view.lines)} 条记录待申报。"
        ),
    ]
    if tally:
        elements.append(markdown(md(f"{city}：{tally}")))
    if not view.full:
        elements.append(note("此群不是全员 HR 的摘要群：姓名已隐去，不显示缴费基数。"))
    return _fitted(view, _closing(view, queried_at, f"增减员申报提醒 · {city}", WAITING, elements))


def overdue_card(city: str, cutoff: datetime, view: DigestView, *, queried_at: datetime) -> Card:
    """The day after a cutoff: what was not filed in time (`view.lines`, every one of them 待申报 or 有变更)."""
    elements: list[Element] = [
        markdown(
            f"**{md(city)}本月增减员申报已于 {cutoff:%m-%d} 截止，以下 {len(view.lines)} 条记录未按时申报。**"
        ),
        note("请尽快补报，或标记为已申报 / 无需申报。"),
    ]
    if not view.full:
        elements.append(note("此群不是全员 HR 的摘要群：姓名已隐去，不显示缴费基数。"))
    return _fitted(view, _closing(view, queried_at, f"增减员逾期未申报 · {city}", FAILED, elements))


def all_lines_cards(
    lines: Sequence[RecordLine], current_month: str, *, queried_at: datetime, snapshot: str = ""
) -> list[Card]:
    """Every line, full names (only ever sent to HR privately), split into cards that each fit the size limit.

    With `snapshot` the groups have state buttons, and the lines a state menu each when they are few enough to keep
    the cards few."""
    per_line = len(lines) <= MAX_CONTROLLED_LINES * 3
    blocks, _ = _group_blocks(lines, current_month, True, None, snapshot, per_line=per_line)
    parts: list[list[Element]] = [[]]
    size = 0
    for title, body in blocks:
        current: Element | None = None
        for element in body:
            grown = len(card_json(element).encode()) + 1
            if parts[-1] and size + grown > MAX_PART_BYTES:
                parts.append([])
                size, current = 0, None
            if current is None:
                current = panel(title, [], expanded=True)
                parts[-1].append(current)
                size += len(card_json(current).encode())
            current["elements"].append(element)
            size += grown
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
