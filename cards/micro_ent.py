"""小微企业 cards: the same message moves 查询中 → 已完成 / 失败 / 已过期; a short notice tells the requester."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from cards.common import (
    EXPIRED,
    FAILED,
    OK,
    WAITING,
    Card,
    Element,
    action_value,
    button,
    button_row,
    card,
    fields,
    footer,
    markdown,
    note,
    panel,
    short_ref,
)
from cards.safe import md

SOURCE = "聚合数据"
REFRESH = "micro_ent.refresh"
RETRY = "micro_ent.retry"

_BASE_FIELDS = (
    ("name", "企业名称"),
    ("credit_no", "统一社会信用代码"),
    ("reg_no", "注册号"),
    ("econ_kind", "企业类型"),
    ("start_date", "成立日期"),
    ("belong_org", "登记机关"),
    ("reg_capi", "出资额"),
    ("l1_domain_name", "所属门类"),
    ("l2_domain_name", "行业"),
)
_SUPPORT_FIELDS = (
    ("support_department", "实施扶持政策的部门"),
    ("support_amount", "享受扶持政策的数额"),
    ("support_date", "实施扶持政策日期"),
    ("support_basis", "享受扶持政策依据"),
    ("support_content", "享受扶持政策内容"),
)


def _title(company: str) -> str:
    return f"小微企业 · {company}"


def pending_card(company: str, submitted_at: datetime, jobid: str, *, joined: bool = False) -> Card:
    lines = [
        "**查询中**：已向数据源提交，一般 30 分钟内出结果，完成后会更新这张卡片并通知你。",
    ]
    if joined:
        lines.append("同一企业的查询正在进行，已为你加入，不会重复收费。")
    return card(
        _title(company),
        WAITING,
        [
            markdown("\n".join(lines)),
            fields([("提交时间", f"{submitted_at:%Y-%m-%d %H:%M}"), ("任务编号", short_ref(jobid))]),
            button_row(button("刷新", action_value(REFRESH, jobid=jobid))),
        ],
    )


def result_card(result: dict[str, Any], queried_at: datetime, jobid: str | None) -> Card:
    base = [
        (label, result.get(key) if result.get(key) not in (None, "", "-") else "无")
        for key, label in _BASE_FIELDS
    ]
    support = [
        (label, result[key]) for key, label in _SUPPORT_FIELDS if result.get(key) not in (None, "", "-")
    ]
    name = result.get("name") or result.get("credit_no")
    # The answer first: Juhe returns the company's record only when it is in the 小微企业名录.
    verdict = (
        f"**在名录**：{md(name)} 在小微企业名录中。"
        if name
        else "**不在名录**：数据源没有这家企业的小微企业信息。"
    )
    elements: list[Element] = [markdown(verdict), fields(base)]
    if support:
        elements.append(panel("**扶持政策**", [fields(support)], expanded=True))
    else:
        elements.append(note("暂无扶持政策信息。"))
    elements.append(footer(SOURCE, queried_at, ref=jobid))
    return card(_title(str(result.get("name") or "")), OK, elements, subtitle="已完成")


def failed_card(company: str, reason: str, requester: str) -> Card:
    return card(
        _title(company),
        FAILED,
        [
            markdown(f"**查询失败**：{md(reason)}"),
            button_row(
                button("重新查询", action_value(RETRY, keyword=company, requester=requester), kind="primary")
            ),
            note("重新查询会再次收费。"),
        ],
    )


EXPIRED_WHY = "数据源 24 小时内没有给出结果"


def expired_card(company: str, requester: str, why: str = EXPIRED_WHY) -> Card:
    return card(
        _title(company),
        EXPIRED,
        [
            markdown(f"**查询已过期**：{why}，这次查询已失效。"),
            button_row(
                button("重新查询", action_value(RETRY, keyword=company, requester=requester), kind="primary")
            ),
            note("重新查询会再次收费。"),
        ],
    )


def finished_notice(requester: str, company: str, outcome: str) -> Card:
    """A short new message, so the requester hears about a card that changed far up the chat."""
    template = {"已完成": OK, "已过期": EXPIRED}.get(outcome, FAILED)
    # The bot's own mention of the requester: an open_id from a signed event, checked to be one before use.
    mention = f"<at id={requester}></at> " if re.fullmatch(r"[A-Za-z0-9_-]+", requester) else ""
    return card(
        f"小微企业查询{outcome}",
        template,
        [markdown(f"{mention}「{md(company)}」的小微企业查询{outcome}，结果已更新在原卡片上。")],
    )


def usage_card(problem: str) -> Card:
    return card(
        "小微企业查询",
        FAILED,
        [markdown(problem), note("用法：小微企业 <企业全称|注册号|统一社会信用代码>")],
    )
