"""个人社保 cards: city → login form → progress / SMS / captcha → result. One card, updated in place.

Button and select values carry only the step's version, never what the user typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.trust.consent import Notice
from bot.trust.masking import mask_id_number, mask_tail
from cards.common import (
    EXPIRED,
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
    fields,
    footer,
    form,
    image,
    markdown,
    money,
    note,
    panel,
    plain,
    select,
    submit_button,
    table,
    text_input,
)
from cards.common import (
    consent_card as notice_card,
)
from cards.safe import md

SOURCE = "天创"
TITLE = "个人社保查询"
CITY = "personal_social.city"
METHOD = "personal_social.method"
SUBMIT = "personal_social.submit"
CODE = "personal_social.code"
RESTART = "personal_social.restart"
CANCEL = "personal_social.cancel"
AGREE = "personal_social.agree"
REFUSE = "personal_social.refuse"

SECTIONS = (
    ("oldageInsuranceInfos", "养老保险"),
    ("medicalInsuranceInfos", "医疗保险"),
    ("birthInsuranceInfos", "生育保险"),
    ("injuryInsuranceInfos", "工伤保险"),
    ("unemployInsuranceInfos", "失业保险"),
)
LATEST_MONTHS = 6


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text | password | select
    required: bool
    options: tuple[tuple[str, str], ...] = ()  # (value, shown text)


def _restart_row() -> Element:
    return button_row(button("重新开始", action_value(RESTART), kind="primary"))


def _cancel_row(version: int) -> Element:
    return button_row(button("取消查询", action_value(CANCEL, v=version)))


def consent_card(notice: Notice, city: str = "") -> Card:
    """Before the first query: what goes to Tcredit. `city`, if typed with the command, is carried on to the picker."""
    return notice_card(notice, action_value(AGREE, city=city), action_value(REFUSE))


def city_card(
    available: Sequence[tuple[str, str]], unavailable: Sequence[tuple[str, str]], version: int
) -> Card:
    """available: (area_name, area_code); unavailable: (area_name, why)."""
    elements: list[Element] = [markdown("请选择你参保的城市。")]
    if available:
        elements.append(
            select(
                "area_code",
                [(name, code) for name, code in available],
                placeholder="选择城市",
                value=action_value(CITY, v=version),
            )
        )
    else:
        elements.append(markdown("暂时没有可查询的城市，请稍后再试。"))
    if unavailable:
        elements.append(
            note("暂不可用：" + "、".join(f"{md(name)}（{md(why)}）" for name, why in unavailable))
        )
    elements.append(note("密码只用于本次登录查询，不会被保存。"))
    elements.append(_cancel_row(version))
    return card(TITLE, WAITING, elements)


def form_card(
    area_name: str,
    methods: Sequence[tuple[str, str]],
    chosen: str,
    params: Sequence[Field],
    version: int,
    *,
    problem: str | None = None,
) -> Card:
    """methods: (login_type, login_name). The form is built from the city's login parameters."""
    elements: list[Element] = [markdown(f"**{md(area_name)}** · 请填写社保网站的登录信息。")]
    if problem:
        elements.append(markdown(f"⚠️ {md(problem)}"))
    if len(methods) > 1:
        names = dict(methods)
        elements.append(
            select(
                "login_type",
                [(name, login_type) for login_type, name in methods],
                placeholder=f"登录方式：{names.get(chosen, chosen)}",
                value=action_value(METHOD, v=version),
            )
        )
    inputs: list[Element] = []
    for param in params:
        if param.kind == "select":
            inputs.append(
                select(
                    param.name,
                    [(text, value) for value, text in param.options],
                    placeholder=param.label + (" *" if param.required else ""),
                    required=param.required,
                )
            )
        else:
            inputs.append(
                text_input(
                    param.name, param.label, required=param.required, password=param.kind == "password"
                )
            )
    inputs.append(submit_button("登录查询", action_value(SUBMIT, v=version, login_type=chosen)))
    elements.append(form("login", inputs))
    elements.append(note("带 * 的为必填项。提交后会发起一次收费查询；密码不会被保存。"))
    elements.append(_cancel_row(version))
    return card(f"{TITLE} · {area_name}", WAITING, elements)


def progress_card(area_name: str, text: str) -> Card:
    return card(
        f"{TITLE} · {area_name}",
        WAITING,
        [markdown(f"**{md(text)}**"), note("正在自动刷新进度，请稍候；需要验证码时会在这里提示。")],
    )


def _code_card(area_name: str, version: int, intro: list[Element], label: str, problem: str | None) -> Card:
    """A step that waits for a code the user reads off their phone or an image."""
    elements = list(intro)
    if problem:
        elements.append(markdown(f"⚠️ {md(problem)}"))
    elements.append(
        # The form's name differs from its input's: names are unique in the whole card (form container doc).
        form(
            "code_form",
            [
                text_input("code", label, required=True),
                submit_button("提交验证码", action_value(CODE, v=version)),
            ],
        )
    )
    elements.append(_cancel_row(version))
    return card(f"{TITLE} · {area_name}", WAITING, elements)


def sms_card(area_name: str, version: int, *, problem: str | None = None) -> Card:
    intro = [markdown("社保网站已向你的手机发送短信验证码，请在下方输入。")]
    return _code_card(area_name, version, intro, "短信验证码", problem)


def captcha_card(area_name: str, image_key: str, version: int, *, problem: str | None = None) -> Card:
    intro = [markdown("请输入图片中的验证码。"), image(image_key, "图片验证码")]
    return _code_card(area_name, version, intro, "图片验证码", problem)


def failed_card(area_name: str, reason: str) -> Card:
    return card(
        f"{TITLE} · {area_name}" if area_name else TITLE,
        FAILED,
        [
            markdown(f"**查询失败**：{md(reason)}"),
            # Tcredit's failures say it already (NOT_BILLED): the sentence once.
            *([] if "不收费" in reason else [note("失败的查询不收费。")]),
            _restart_row(),
        ],
    )


def expired_card(area_name: str | None) -> Card:
    return card(
        f"{TITLE} · {area_name}" if area_name else TITLE,
        EXPIRED,
        [markdown("这次查询已超时失效（30 分钟未完成）。"), _restart_row()],
    )


def cancelled_card(why: str = "你开始了新的查询") -> Card:
    return card(TITLE, EXPIRED, [markdown(f"这次查询已取消：{md(why)}。")])


def moved_private_card() -> Card:
    return card(TITLE, INFO, [markdown("个人社保涉及个人隐私，我已私聊你，请在私聊中继续。")])


def _money(value: Any) -> str:
    return money(amount(value))


def _ordered(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r.get("payMonthly") or r.get("payDate") or ""), reverse=True)


def _month(row: dict[str, Any]) -> str:
    return str(row.get("payMonthly") or row.get("payDate") or "")[:7]


def _latest_table(sections: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> Element:
    """Each insurance's latest month, as the card's one table (Feishu allows tables only at the root, at most five)."""
    columns = [
        ("insurance", "险种"),
        ("month", "所属年月"),
        ("base", "缴费基数（元）"),
        ("company", "单位缴费（元）"),
        ("personal", "个人缴费（元）"),
        ("status", "状态"),
    ]
    rows = []
    for label, section_rows in sections:
        latest = _ordered(section_rows)[0]
        rows.append(
            {
                "insurance": label,
                "month": _month(latest),
                "base": amount(latest.get("salary")),
                "company": amount(latest.get("payCompany")),
                "personal": amount(latest.get("payPerson")),
                "status": str(latest.get("status") or latest.get("describe") or "—"),
            }
        )
    numbers = {"base": 2, "company": 2, "personal": 2}
    return table(columns, rows, numbers=numbers, page_size=len(SECTIONS))


def _verdict(sections: Sequence[tuple[str, Sequence[dict[str, Any]]]], queried_at: datetime) -> Element:
    """The answer first: paid up to which month (up to date if last month or later), and that month's total."""
    if not sections:
        return markdown("**没有查到缴费记录**：社保网站未返回任何险种的缴费明细。")
    latest = max(_month(_ordered(rows)[0]) for _label, rows in sections)
    last_month = f"{queried_at.year - (queried_at.month == 1)}-{(queried_at.month - 2) % 12 + 1:02d}"
    company = personal = 0.0
    for _label, rows in sections:
        for row in rows:
            if _month(row) == latest:
                company += amount(row.get("payCompany")) or 0
                personal += amount(row.get("payPerson")) or 0
    state = (
        f"**已缴至 {latest}**" if latest >= last_month else f"**最近一次缴费是 {latest}**，此后没有缴费记录"
    )
    return markdown(
        f"{state}。该月合计 {money(company + personal)}（单位 {money(company)} · 个人 {money(personal)}）"
    )


def _section(label: str, rows: Sequence[dict[str, Any]]) -> Element:
    company = sum(float(r.get("payCompany") or 0) for r in rows)
    personal = sum(float(r.get("payPerson") or 0) for r in rows)
    lines = [f"共 {len(rows)} 个月 · 单位合计 {money(company)} · 个人合计 {money(personal)}"]
    lines += [
        f"{_month(r)}：缴费基数 {_money(r.get('salary'))} · 单位 {_money(r.get('payCompany'))}"
        f" · 个人 {_money(r.get('payPerson'))} · {r.get('status') or r.get('describe') or '—'}"
        for r in _ordered(rows)[:LATEST_MONTHS]
    ]
    return panel(f"**{label}** · {len(rows)} 个月", [plain("\n".join(lines))], expanded=False)


def result_card(
    area_name: str,
    base: dict[str, Any],
    records: dict[str, list[dict[str, Any]]],
    missing: Sequence[str],
    queried_at: datetime,
    ref: str,
) -> Card:
    """Base info (ID and social-security numbers masked), each insurance's latest month in one table, then per insurance the latest months and totals
    in a panel; missing sections noted."""
    pairs = [
        # The person's own record, in their private chat: their name as it is (the ID number stays masked).
        ("姓名", str(base.get("name") or "—")),
        ("身份证号", mask_id_number(str(base.get("idcard") or base.get("papersNum") or "")) or "—"),
        ("单位", str(base.get("company") or "—")),
        (
            "社保编号",
            mask_tail(str(base.get("socialInsuranceNum") or base.get("socialSecurityNo") or "")) or "—",
        ),
        ("缴存状态", str(base.get("payStatus") or "—")),
        ("最后缴费", str(base.get("lastPayDate") or "—")),
    ]
    labels = dict(SECTIONS)
    sections = [(label, records[key]) for key, label in SECTIONS if records.get(key)]
    elements: list[Element] = [_verdict(sections, queried_at), fields(pairs)]
    if sections:
        elements.append(_latest_table(sections))
    elements += [_section(label, rows) for label, rows in sections]
    if missing:
        names = "、".join(labels.get(m, "基础信息" if m == "baseInfo" else m) for m in missing)
        elements.append(markdown(f"⚠️ 部分数据缺失：{md(names)}（社保网站未返回）"))
    elements.append(footer(SOURCE, queried_at, ref=ref))
    elements.append(_restart_row())
    return card(f"{TITLE} · {area_name}", INFO if missing else OK, elements, subtitle="查询完成")
