"""企业社保缴纳 cards: a company's annual-report social security figures, the newest year as a table, older ones in panels."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cards.common import (
    INFO,
    OK,
    Card,
    Element,
    amount,
    card,
    error_card,
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
    from bot.providers.juhe import SocialSecurity, SocialSecurityReport, YearReport

SOURCE = "聚合数据"
# A figure the annual report leaves out: the same word in the headline, the table's note and the older years' lines.
NO_DATA = "未披露"
USAGE = "企业社保 <企业全称|注册号|统一社会信用代码>"
EXAMPLE = "企业社保 小米科技有限责任公司"
# Beyond this many years the card says how many are left out (a card is at most about 30 KB).
MAX_YEARS = 10

# Per insurance, the annual report's field for 缴费基数, 本期实际缴费, 累计欠缴 and 人数 (the API's 20 figures).
INSURANCES: tuple[tuple[str, tuple[str, str, str, str]], ...] = (
    (
        "养老",
        (
            "endowment_base_amount",
            "actual_endowment_amount",
            "endowment_insurance_amount",
            "basic_endowment_num",
        ),
    ),
    ("医疗", ("basic_medical_amount", "actual_medical_amount", "base_medical_down_balance", "insurance_num")),
    (
        "失业",
        ("unemployment_insurance", "actual_lost_amount", "unemployment_down_balance", "unemployment_num"),
    ),
    (
        "工伤",
        (
            "injury_insurance_amount",
            "actual_injury_amount",
            "company_injury_down_balance",
            "injury_insurance_num",
        ),
    ),
    ("生育", ("birth_insurance_count", "birth_actual_amount", "birth_amount", "birth_num")),
)
COLUMNS = (
    ("insurance", "险种"),
    ("people", "人数（人）"),
    ("base", "缴费基数（元）"),
    ("paid", "本期实际缴费（元）"),
    ("arrears", "累计欠缴（元）"),
)
# Decimal places per numeric column: people are counts; amounts in 元 to the fen, as on every other card.
NUMBERS = {"people": 0, "base": 2, "paid": 2, "arrears": 2}


def _shown(value: str) -> str:
    value = value.strip()
    return NO_DATA if value in ("", "-") else value


def _yuan(value: str) -> float | None:
    """An amount in 元: the report writes 万元 ("47.014208万元" is 470,142.08 元)."""
    number = amount(value)
    return round(number * 10_000, 2) if number is not None and "万" in value else number


def _year_table(figures: SocialSecurity) -> Element:
    rows = []
    for insurance, (base, paid, arrears, people) in INSURANCES:
        rows.append(
            {
                "insurance": insurance,
                "people": amount(getattr(figures, people)),
                "base": _yuan(getattr(figures, base)),
                "paid": _yuan(getattr(figures, paid)),
                "arrears": _yuan(getattr(figures, arrears)),
            }
        )
    return table(COLUMNS, rows, numbers=NUMBERS, page_size=len(INSURANCES))


def _has_gaps(figures: SocialSecurity) -> bool:
    return any(amount(getattr(figures, name)) is None for _insurance, names in INSURANCES for name in names)


def _total(figures: SocialSecurity, field: int) -> float | None:
    found = [_yuan(getattr(figures, names[field])) for _insurance, names in INSURANCES]
    known = [f for f in found if f is not None]
    return sum(known) if known else None


def _age(report_date: str, queried_at: datetime) -> str:
    """How old the figures are, in words: annual reports come once a year."""
    try:
        published = datetime.strptime(report_date.strip()[:10], "%Y-%m-%d")
    except ValueError:
        return "发布日期未知"
    months = (queried_at.year - published.year) * 12 + queried_at.month - published.month
    if months < 1:
        return f"{published:%Y-%m-%d} 发布，本月内"
    if months < 12:
        return f"{published:%Y-%m-%d} 发布，约 {months} 个月前"
    return f"{published:%Y-%m-%d} 发布，约 {months // 12} 年前"


def _verdict(latest: YearReport, queried_at: datetime) -> Element:
    """The answer first: the newest year's headcount, what was paid, what is owed, and how old that is."""
    figures = latest.social_security
    people = amount(figures.basic_endowment_num)
    paid, arrears = _total(figures, 1), _total(figures, 2)
    if people is None and paid is None and arrears is None:
        headline = "年报未披露社保数据"
    else:
        headline = " · ".join(
            [
                f"参保 {people:,.0f} 人" if people is not None else "参保人数未披露",
                f"本期实际缴费 {money(paid)}",
                "无欠缴" if not arrears else f"累计欠缴 {money(arrears)}",
            ]
        )
    return markdown(
        f"**{md(latest.report_year)} 年报：{headline}**\n{md(_age(latest.report_date, queried_at))}"
    )


def _year_title(year: YearReport) -> str:
    published = f" · {md(year.report_date)} 发布" if _shown(year.report_date) != NO_DATA else ""
    return f"**{md(year.report_year)} 年报**{published}"


def _year_lines(figures: SocialSecurity) -> Element:
    """An older year as plain lines: Feishu allows tables only at the card's root, at most five."""

    def yuan(name: str) -> str:
        return NO_DATA if (value := _yuan(getattr(figures, name))) is None else money(value)

    def people(name: str) -> str:
        value = amount(getattr(figures, name))
        return NO_DATA if value is None else f"{value:,.0f} 人"

    lines = [
        f"{insurance}：人数 {people(count)} · 缴费基数 {yuan(base)} · 本期实际缴费 {yuan(paid)} · 累计欠缴 {yuan(arrears)}"
        for insurance, (base, paid, arrears, count) in INSURANCES
    ]
    return plain("\n".join(lines))


def report_card(report: SocialSecurityReport, *, queried_at: datetime, cached: bool = False) -> Card:
    """Newest year first, as the card's one table; older years collapsed. Figures in 人 and 元."""
    years = report.years[:MAX_YEARS]
    elements: list[Element] = []
    if years:
        elements.append(_verdict(years[0], queried_at))
    else:
        elements.append(markdown("**没有查到年报社保数据**"))
    elements.append(note(f"{md(report.name)} · 工商年报披露的社保信息，共 {len(report.years)} 个年度"))
    if years:
        latest, *older = years
        elements += [markdown(_year_title(latest)), _year_table(latest.social_security)]
        if _has_gaps(latest.social_security):
            elements.append(note(f"表中没有数字的格子：年报{NO_DATA}。"))
        elements += [
            panel(_year_title(year), [_year_lines(year.social_security)], expanded=False) for year in older
        ]
    if len(report.years) > len(years):
        elements.append(note(f"还有 {len(report.years) - len(years)} 个更早的年度未显示"))
    if cached:
        elements.append(note("结果来自缓存，查询时间为向数据源查询的时间"))
    elements.append(footer(SOURCE, queried_at))
    return card(f"企业社保缴纳 · {report.name}", OK if years else INFO, elements)


def usage_card() -> Card:
    return card(
        "企业社保缴纳查询",
        INFO,
        [
            markdown(f"用法：`{USAGE}`\n例：`{EXAMPLE}`"),
            note("按企业工商年报查询社保缴纳情况；请使用企业全称，或 18 位统一社会信用代码、15 位注册号。"),
        ],
    )


def failed_card(reason: str, keyword: str | None = None) -> Card:
    """查询失败: why, and which company was asked about."""
    return error_card("查询失败", reason, f"查询的企业：{keyword}" if keyword else f"用法：{USAGE}")
