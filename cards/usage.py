"""用量 cards: what billed provider calls cost today and this month, budgets, breakers, a 30-day chart; the budget
warning sent to the managers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cards.common import (
    INFO,
    WAITING,
    Card,
    Element,
    action_value,
    button,
    button_row,
    card,
    markdown,
    money,
    note,
    table,
)
from cards.safe import md

EXPORT = "usage.export"
BREAKER_WORDS = {"closed": "正常", "half_open": "试探恢复中", "open": "已熔断"}


@dataclass(frozen=True)
class Spend:
    calls: int = 0
    yuan: float = 0.0


@dataclass(frozen=True)
class ProviderUsage:
    name: str  # 聚合数据, 天创
    today: Spend
    month: Spend
    budget: float | None
    breaker: str  # closed, half_open, open
    breaker_minutes: int = 0  # while open: minutes until a probe is let through

    @property
    def budget_left(self) -> float | None:
        return None if not self.budget else self.budget - self.month.yuan


@dataclass(frozen=True)
class UsageView:
    month: str  # "2026-11"
    providers: Sequence[ProviderUsage]
    features: Sequence[tuple[str, Spend, Spend]]  # command name, today, month
    top_users: Sequence[tuple[str, Spend]]  # masked name, this month
    daily: Sequence[tuple[str, str, float]]  # ("11-01", provider name, yuan) for each of the last 30 days
    unknown: int  # this month's calls whose outcome is unknown (counted as spent)
    queried_at: datetime


def _breaker(provider: ProviderUsage) -> str:
    word = BREAKER_WORDS.get(provider.breaker, provider.breaker)
    return f"{word}（{provider.breaker_minutes} 分钟后试探）" if provider.breaker == "open" else word


def _chart(daily: Sequence[tuple[str, str, float]]) -> Element:
    return {
        "tag": "chart",
        "aspect_ratio": "16:9",
        "chart_spec": {
            "type": "line",
            "title": {"text": "近 30 天每日花费（元）"},
            "data": {"values": [{"date": d, "provider": p, "yuan": round(y, 2)} for d, p, y in daily]},
            "xField": "date",
            "yField": "yuan",
            "seriesField": "provider",
            "legends": {"visible": True, "orient": "bottom"},
        },
    }


def usage_card(view: UsageView) -> Card:
    today = sum(p.today.yuan for p in view.providers)
    month = sum(p.month.yuan for p in view.providers)
    calls = sum(p.month.calls for p in view.providers)
    elements: list[Element] = [
        markdown(f"本月已花费 **{money(month)}**（今日 {money(today)}），共 {calls} 次计费查询。"),
        table(
            [
                ("provider", "数据源"),
                ("today_calls", "今日次数"),
                ("today_yuan", "今日（元）"),
                ("month_calls", "本月次数"),
                ("month_yuan", "本月（元）"),
                ("left", "预算余额（元）"),
                ("breaker", "熔断"),
            ],
            [
                {
                    "provider": p.name,
                    "today_calls": p.today.calls,
                    "today_yuan": p.today.yuan,
                    "month_calls": p.month.calls,
                    "month_yuan": p.month.yuan,
                    "left": p.budget_left,
                    "breaker": _breaker(p),
                }
                for p in view.providers
            ],
            numbers={"today_calls": 0, "today_yuan": 2, "month_calls": 0, "month_yuan": 2, "left": 2},
        ),
    ]
    if view.features:
        elements.append(
            table(
                [("feature", "功能"), ("today", "今日次数"), ("month", "本月次数"), ("yuan", "本月（元）")],
                [
                    {"feature": name, "today": t.calls, "month": m.calls, "yuan": m.yuan}
                    for name, t, m in view.features
                ],
                numbers={"today": 0, "month": 0, "yuan": 2},
            )
        )
    if view.top_users:
        elements.append(
            table(
                [("user", "本月用得最多"), ("calls", "次数"), ("yuan", "金额（元）")],
                [{"user": name, "calls": s.calls, "yuan": s.yuan} for name, s in view.top_users],
                numbers={"calls": 0, "yuan": 2},
            )
        )
    elements.append(_chart(view.daily))
    if view.unknown:
        elements.append(
            note(
                f"本月有 {view.unknown} 次调用没有收到数据源的答复，结果未知，已按计费计入（请与账单核对）。"
            )
        )
    elements.append(note(f"预算按月计，每月 1 日重置 · 查询时间：{view.queried_at:%Y-%m-%d %H:%M}"))
    elements.append(
        button_row(button("导出本月明细", action_value(EXPORT, month=view.month), kind="primary"))
    )
    return card(f"用量 · {view.month}", INFO, elements)


def moved_private_card() -> Card:
    """What the group sees when an admin types 用量 there: the figures go to the admin privately."""
    return card("用量", INFO, [markdown("用量涉及花费和同事的查询次数，我已私聊你，请在私聊中查看。")])


def budget_warning_card(provider: str, spent: float, budget: float, month: str) -> Card:
    share = spent / budget * 100 if budget else 0.0
    return card(
        f"预算提醒 · {provider}",
        WAITING,
        [
            markdown(
                f"{md(provider)} {md(month)} 已花费 **{money(spent)}**，达到本月预算 {money(budget)} 的 "
                f"{share:.0f}%。"
            ),
            note(
                "预算用完后该数据源的查询会被拒绝，直到下月 1 日；如需追加，请调整预算设置。发送「用量」查看明细。"
            ),
        ],
    )
