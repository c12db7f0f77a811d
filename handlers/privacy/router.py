"""个人信息 (PIPL): 我的数据, 删除我的数据, 撤回同意 for everyone; 审计 for admins; people who leave are forgotten.

What a person's data is, each feature says itself (`Feature.personal_data`); consents and the access audit are the
core's (bot/trust/consent.py, bot/trust/audit.py). Answers go to the asker privately: they list personal data.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any

from openpyxl import Workbook

from bot import xlsx
from bot.lifecycle.services import Services
from bot.routing.context import ActionContext, MessageContext
from bot.routing.guards import admins_only, private_only
from bot.routing.protocol import ActionResponse
from bot.routing.router import Router
from bot.trust import audit
from bot.trust.consent import Consents, Notice
from bot.trust.ledger import day_bounds
from bot.trust.personal_data import Held
from cards.privacy import (
    AuditLine,
    ConsentLine,
    audit_card,
    audit_usage_card,
    erase_confirm_card,
    erased_card,
    kept_card,
    moved_private_card,
    my_data_card,
    not_admin_card,
    withdrawn_card,
)

log = logging.getLogger("hrbot.privacy")

router = Router("privacy")

SEEN_SHOWN = 10
EXPORT_ROWS = 50_000
EXPORT_KIND = "审计导出"  # exporting the audit is itself a delivery of people's open_ids
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _audit_days(services: Services) -> float:
    return services.settings.hrbot_audit_retention_days


def _notices(services: Services) -> dict[str, Notice]:
    return {notice.key: notice for notice in services.catalogue.notices}


async def _held(services: Services, open_id: str) -> list[Held]:
    found: list[Held] = []
    for personal_data in services.catalogue.personal_data:
        found += await personal_data.held(services, open_id)
    return found


async def _consent_lines(services: Services, open_id: str) -> list[ConsentLine]:
    notices = _notices(services)
    lines = []
    for consent in await Consents(services.store).of(open_id):
        notice = notices.get(consent.notice)
        lines.append(
            ConsentLine(
                title=notice.title if notice else consent.notice,
                provider=notice.provider if notice else "—",
                version=consent.version,
                agreed_at=services.local(consent.agreed_at),
                withdrawn_at=services.local(consent.withdrawn_at) if consent.withdrawn_at else None,
                current=notice is not None and notice.version == consent.version,
            )
        )
    return lines


def _line(services: Services, row: audit.AuditRow, names: dict[str, str] | None = None) -> AuditLine:
    names = names or {}
    subject = row.subject_id or ""
    return AuditLine(
        services.local(row.at),
        row.actor,
        row.kind,
        subject,
        row.place,
        row.people,
        actor_name=names.get(row.actor, ""),
        subject_name=names.get(subject, ""),
    )


async def _named_lines(services: Services, rows: list[audit.AuditRow]) -> list[AuditLine]:
    """Audit lines with people's names for an HR or legal reader; open_ids alone when Feishu cannot say."""
    ids = {i for row in rows for i in (row.actor, row.subject_id or "") if i.startswith("ou_")}
    names = await services.feishu.names(ids)
    return [_line(services, row, names) for row in rows]


# 我的数据 ----------------------------------------------------------------------------------------------------------
@router.command(
    "我的数据",
    summary="查看机器人保存的与你有关的个人信息",
    example="我的数据",
    takes_args=False,
    guards=[private_only(moved_private_card)],
)
async def my_data(ctx: MessageContext) -> None:
    services = ctx.services
    seen, seen_total = await audit.recent(services.store, subject=ctx.user, limit=SEEN_SHOWN)
    await ctx.reply(
        my_data_card(
            await _consent_lines(services, ctx.user),
            await _held(services, ctx.user),
            [_line(services, row) for row in seen],
            seen_total,
            audit_days=_audit_days(services),
            queried_at=services.local(services.clock.now()),
        )
    )


# 删除我的数据 --------------------------------------------------------------------------------------------------------
async def _confirm_card(services: Services, open_id: str) -> dict[str, Any]:
    seen_total = await audit.count(services.store, subject=open_id)
    consents = await Consents(services.store).of(open_id)
    return erase_confirm_card(
        await _held(services, open_id), bool(consents), seen_total, audit_days=_audit_days(services)
    )


@router.command(
    "删除我的数据",
    summary="删除机器人保存的你的个人信息（访问审计记录和收费查询记录除外）",
    example="删除我的数据",
    takes_args=False,
    guards=[private_only(moved_private_card)],
)
async def ask_erase_command(ctx: MessageContext) -> None:
    await ctx.reply(await _confirm_card(ctx.services, ctx.user))


@router.action("ask_erase")
async def ask_erase(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.replace(await _confirm_card(ctx.services, ctx.user))


async def erase_person(services: Services, open_id: str) -> list[str]:
    """Every feature closes and deletes what it holds of the person; their consents go too."""
    consents_of = Consents(services.store)
    # Withdrawn first: a 核验 clicked while the features erase finds no consent and sends nothing.
    await consents_of.withdraw(open_id)
    removed: list[str] = []
    for personal_data in services.catalogue.personal_data:
        removed += await personal_data.erase(services, open_id)
    consents = await consents_of.forget(open_id)
    if consents:
        removed.append(f"同意记录 {consents} 条")
    return removed


@router.action("erase")
async def erase(ctx: ActionContext) -> ActionResponse:
    """The clicker's own data, whoever's card it is: the value names nobody."""
    services = ctx.services
    removed = await erase_person(services, ctx.user)
    seen_total = await audit.count(services.store, subject=ctx.user)
    log.info("personal data deleted on request: %d kinds", len(removed))
    card_ = erased_card(removed, seen_total, audit_days=_audit_days(services))
    return ActionResponse.toast("已删除", "success", card=card_)


@router.action("keep")
async def keep(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.replace(kept_card())


# 撤回同意 -------------------------------------------------------------------------------------------------------------
async def _withdraw(services: Services, open_id: str) -> dict[str, Any]:
    notices = _notices(services)
    keys = await Consents(services.store).withdraw(open_id)
    return withdrawn_card(
        [f"{notices[k].title}（{notices[k].provider}）" if k in notices else k for k in keys]
    )


@router.command(
    "撤回同意",
    summary="撤回向数据源发送个人信息的同意",
    example="撤回同意",
    takes_args=False,
    # Which notices someone had agreed to says which features they used.
    guards=[private_only(moved_private_card)],
)
async def withdraw_command(ctx: MessageContext) -> None:
    await ctx.reply(await _withdraw(ctx.services, ctx.user))


@router.action("withdraw")
async def withdraw(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.replace(await _withdraw(ctx.services, ctx.user))


# People who leave ----------------------------------------------------------------------------------------------------
@router.event("contact.user.deleted_v3")
async def user_left(services: Services, event: dict[str, Any]) -> None:
    """Feishu's 员工离职: the person's open dialogs and requests close, and what is theirs is deleted."""
    user = event.get("object")
    open_id = str(user.get("open_id") or "") if isinstance(user, dict) else ""
    if not open_id:
        return
    removed = await erase_person(services, open_id)
    log.info("a user left: %d kinds of their data deleted", len(removed))


# 审计 (admins) -----------------------------------------------------------------------------------------------------
def _scope(services: Services, ctx: MessageContext) -> tuple[str, str, str]:
    """(subject open_id, day, words for the card) from `审计 [@某人|日期]`; ValueError says what is wrong."""
    mentioned = [m.open_id for m in ctx.message.mentions if m.open_id and m.open_id != services.bot_open_id]
    words = ctx.argv
    if len(mentioned) > 1 or len(words) > 1 or (mentioned and words):
        raise ValueError("一次只能按一个人或一个日期查询")
    if mentioned:
        return mentioned[0], "", f"与 {mentioned[0]} 有关的查看记录"
    if not words:
        return "", "", "最近的查看记录"
    day = words[0]
    if not _DAY.match(day):
        raise ValueError("请 @某人，或写日期（如 2026-11-22）")
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"没有这一天：{day}") from None
    return "", day, f"{day} 的查看记录"


def _day_range(services: Services, day: str) -> tuple[datetime, datetime] | None:
    if not day:
        return None
    return day_bounds(
        datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=services.settings.tz), services.settings
    )


@router.command(
    "审计",
    summary="查看访问审计记录（仅管理员）：审计、审计 @某人、审计 2026-11-22",
    example="审计 @张三",
    guards=[admins_only("只有管理员可以查看访问审计记录", not_admin_card), private_only(moved_private_card)],
)
async def show_audit(ctx: MessageContext) -> None:
    services = ctx.services
    try:
        subject, day, scope = _scope(services, ctx)
    except ValueError as exc:
        await ctx.reply(audit_usage_card(str(exc)))
        return
    rows, total = await audit.recent(services.store, subject=subject or None, day=_day_range(services, day))
    await ctx.reply(
        audit_card(
            await _named_lines(services, rows),
            total,
            scope,
            subject=subject,
            day=day,
            queried_at=services.local(services.clock.now()),
        )
    )


@router.action("export", guards=[admins_only("只有管理员可以导出访问审计记录")])
async def export(ctx: ActionContext) -> ActionResponse:
    subject = str(ctx.value.get("subject") or "")
    day = str(ctx.value.get("day") or "")
    if day and not _DAY.match(day):
        return ActionResponse.toast("这张卡片的条件无效，请重新发送「审计」", "warning")
    ctx.after_answer(_send_export(ctx.services, ctx.user, subject, day))
    return ActionResponse.toast("正在导出，文件稍后私聊发给你", "info")


async def _send_export(services: Services, admin: str, subject: str, day: str) -> None:
    rows, _total = await audit.recent(
        services.store, subject=subject or None, day=_day_range(services, day), limit=EXPORT_ROWS
    )
    lines = await _named_lines(services, rows)
    data = await asyncio.to_thread(workbook_bytes, lines)
    name = f"访问审计-{services.local(services.clock.now()):%Y%m%d-%H%M}.xlsx"
    file_key = await services.feishu.upload_file(data, name, "xls")
    await services.feishu.send_file(admin, file_key, id_type="open_id")
    people = len({line.subject for line in lines if line.subject})
    await audit.delivered(services.store, admin, EXPORT_KIND, "私聊", people)


def workbook_bytes(lines: list[AuditLine]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "访问审计"
    sheet.append(("时间", "查看人", "查看人 open_id", "被查看人", "被查看人 open_id", "类型", "位置", "人数"))
    for line in lines:
        xlsx.append_row(
            sheet,
            (
                f"{line.at:%Y-%m-%d %H:%M:%S}",
                line.actor_name,
                line.actor,
                line.subject_name,
                line.subject,
                line.kind,
                line.place,
                line.people,
            ),
        )
    return xlsx.workbook_bytes(book)
