"""个人信息 cards: 我的数据, 删除我的数据, 撤回同意, and the admins' 审计 list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.trust.personal_data import Held
from cards.common import (
    EXPIRED,
    INFO,
    OK,
    WAITING,
    Card,
    Element,
    action_value,
    button,
    button_row,
    card,
    error_card,
    markdown,
    note,
    table,
)
from cards.safe import md

ASK_ERASE = "privacy.ask_erase"
ERASE = "privacy.erase"
KEEP = "privacy.keep"
WITHDRAW = "privacy.withdraw"
EXPORT = "privacy.export"
AUDIT_SHOWN = 10


@dataclass(frozen=True)
class ConsentLine:
    title: str
    provider: str
    version: int
    agreed_at: datetime
    withdrawn_at: datetime | None = None
    current: bool = True  # the notice's current version (an older one is asked again)


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    kind: str
    subject: str  # an open_id, or empty for a delivery
    place: str
    people: int | None
    # Names from Feishu's directory when they could be read; the open_ids stay beside them (the audit's key).
    actor_name: str = ""
    subject_name: str = ""


def named(name: str, open_id: str) -> str:
    return f"{name}（{open_id}）" if name and open_id else open_id


def _what_stays(seen: int, audit_days: float) -> list[str]:
    return [
        f"**访问审计记录 {seen} 条**：记录谁在何时查看过你的信息，是个人信息保护的留痕要求，"
        f"不能按个人要求删除，{audit_days:g} 天后自动删除。",
        "**收费查询记录**：记录你发起的每次收费查询（不含查询内容），用于与数据源对账，不能按个人要求删除，"
        "到保留期限后自动删除。",
    ]


def _consent_text(line: ConsentLine) -> str:
    state = (
        f"已于 {line.withdrawn_at:%Y-%m-%d %H:%M} 撤回"
        if line.withdrawn_at
        else "有效"
        if line.current
        else "告知已更新，下次使用时重新询问"
    )
    return (
        f"- {md(line.title)} · 发送给{md(line.provider)} · 告知版本 {line.version} · "
        f"{line.agreed_at:%Y-%m-%d %H:%M} 同意 · {state}"
    )


def my_data_card(
    consents: Sequence[ConsentLine],
    held: Sequence[Held],
    seen: Sequence[AuditLine],
    seen_total: int,
    *,
    audit_days: float,
    queried_at: datetime,
) -> Card:
    """What the bot holds about the asker, masked as on any card."""
    elements: list[Element] = [markdown("**机器人保存的与你有关的信息**（个人信息已打码）")]
    elements.append(markdown("**同意记录**"))
    elements.append(markdown("\n".join(_consent_text(c) for c in consents) if consents else "- 没有同意记录"))
    elements.append(markdown("**查询、申请与对话**"))
    elements.append(
        markdown(
            "\n".join(f"- {md(h.what)}：{md(h.detail)}（{md(h.kept)}）" for h in held)
            if held
            else "- 没有保存的查询、申请或对话"
        )
    )
    elements.append(markdown(f"**你的信息被查看的记录**：共 {seen_total} 条"))
    if seen:
        elements.append(
            markdown(
                "\n".join(
                    f"- {line.at:%Y-%m-%d %H:%M} · {md(line.kind)} · {md(line.place or '—')}" for line in seen
                )
            )
        )
    elements.append(note(" ".join(_what_stays(seen_total, audit_days))))
    buttons = [button("删除我的数据", action_value(ASK_ERASE), kind="danger")]
    if any(c.withdrawn_at is None for c in consents):
        buttons.append(button("撤回同意", action_value(WITHDRAW)))
    elements.append(button_row(*buttons))
    elements.append(note(f"查询时间：{queried_at:%Y-%m-%d %H:%M}"))
    return card("我的数据", INFO, elements)


def erase_confirm_card(
    held: Sequence[Held], has_consents: bool, seen_total: int, *, audit_days: float
) -> Card:
    """What 确认删除 removes, and what must stay and why."""
    removed = [f"- {md(h.what)}：{md(h.detail)}" for h in held]
    if has_consents:
        removed.append("- 同意记录（之后使用相关功能会重新询问）")
    return card(
        "删除我的数据",
        WAITING,
        [
            markdown("**将删除**：\n" + ("\n".join(removed) if removed else "- 没有可删除的数据")),
            markdown("进行中的查询和申请会先关闭，卡片会显示已关闭。"),
            markdown(
                "**将保留**：\n" + "\n".join(f"- {line}" for line in _what_stays(seen_total, audit_days))
            ),
            button_row(
                button("确认删除", action_value(ERASE), kind="danger"),
                button("取消", action_value(KEEP)),
            ),
        ],
    )


def erased_card(removed: Sequence[str], seen_total: int, *, audit_days: float) -> Card:
    body = "\n".join(f"- {md(item)}" for item in removed) if removed else "- 没有需要删除的数据"
    return card(
        "已删除你的数据",
        OK,
        [
            markdown(f"**已删除**：\n{body}"),
            markdown(
                "**仍保留**：\n" + "\n".join(f"- {line}" for line in _what_stays(seen_total, audit_days))
            ),
        ],
    )


def kept_card() -> Card:
    return card("删除我的数据", EXPIRED, [markdown("已取消，没有删除任何数据。")])


def withdrawn_card(titles: Sequence[str]) -> Card:
    if not titles:
        return card("撤回同意", INFO, [markdown("你没有生效中的同意，无需撤回。")])
    return card(
        "已撤回同意",
        OK,
        [
            markdown(f"已撤回：{md('、'.join(titles))}。"),
            note(
                "之后不会再向对应数据源发送你的信息；再次使用这些功能时会重新询问。撤回前已进行的处理不受影响。"
            ),
        ],
    )


def audit_card(
    rows: Sequence[AuditLine],
    total: int,
    scope: str,
    *,
    subject: str = "",
    day: str = "",
    queried_at: datetime,
) -> Card:
    """The newest access-audit rows (`scope` says which), and 导出 for all that match."""
    elements: list[Element] = [
        markdown(f"**{md(scope)}**：共 {total} 条，显示最近 {min(total, len(rows))} 条")
    ]
    if rows:
        elements.append(
            table(
                [
                    ("at", "时间"),
                    ("actor", "查看人"),
                    ("subject", "被查看人"),
                    ("kind", "类型"),
                    ("place", "位置"),
                    ("people", "人数"),
                ],
                [
                    {
                        "at": f"{row.at:%Y-%m-%d %H:%M}",
                        "actor": named(row.actor_name, row.actor),
                        "subject": named(row.subject_name, row.subject) or "—",
                        "kind": row.kind,
                        "place": row.place or "—",
                        "people": row.people,
                    }
                    for row in rows
                ],
                numbers={"people": 0},
                page_size=AUDIT_SHOWN,
            )
        )
        elements.append(button_row(button("导出", action_value(EXPORT, subject=subject, day=day))))
    elements.append(note(f"按 open_id 记录；查询时间：{queried_at:%Y-%m-%d %H:%M}"))
    return card("访问审计", INFO, elements)


def audit_usage_card(reason: str) -> Card:
    return error_card("无法查询审计记录", reason, "用法：审计、审计 @某人、审计 2026-11-22")


def moved_private_card() -> Card:
    return card("个人信息", INFO, [markdown("涉及个人信息，我已私聊你，请在私聊中查看。")])


def not_admin_card() -> Card:
    return error_card("无法查看审计记录", "只有管理员可以查看访问审计记录。")
