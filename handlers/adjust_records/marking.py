"""HR marks 增减员 records on the cards (digest, 查看全部, reminders): a line's menu or a group's buttons set 已申报 or
无需申报 (with a reason), or put back the previous state (撤销). Only HR may, and not from a chat with anyone else in
it. A group of any size is one UPDATE; the click is audited, and the company's 多维表格 follows after the answer."""

from __future__ import annotations

from typing import Any

from bot.routing.context import ActionContext
from bot.routing.errors import Refusal
from bot.routing.guards import hr_only
from bot.routing.protocol import ActionResponse
from cards.adjust_records import FILED, NOT_NEEDED, NOT_NEEDED_REASONS, UNDO
from handlers.adjust_records.audience import chat_audience, digest_chats
from handlers.adjust_records.bitable import sync_table
from handlers.adjust_records.digest import load_snapshot
from handlers.adjust_records.filing_state import LABELS, mark, record_key, undo
from handlers.adjust_records.router import PRIVATE, router

AUDIT_KIND = "增减员申报状态"
STALE = "这张卡片已过期，请重新发送「增减员摘要」"


async def only_where_all_hr(ctx: ActionContext) -> None:
    """A digest chat that now has someone who is not HR shows no state buttons; an older card there is refused."""
    chat_id = ctx.action.open_chat_id
    if chat_id and chat_id in await digest_chats(ctx.services):
        if not (await chat_audience(ctx.services, chat_id)).full:
            raise Refusal("这个群有非 HR 成员，不能在群里标记申报状态；请私聊我发送「增减员摘要」", "error")


GUARDS = [hr_only("只有 HR 可以标记申报状态"), only_where_all_hr]


@router.action("filing_line", guards=GUARDS)
async def mark_line(ctx: ActionContext) -> ActionResponse:
    snapshot = await _snapshot(ctx)
    line = str(ctx.value.get("line", ""))
    kinds = snapshot["lines"].get(line)
    if kinds is None:
        raise Refusal(STALE)
    return await _apply(ctx, _keys(line, kinds), ctx.action.option or "")


@router.action("filing_group", guards=GUARDS)
async def mark_group(ctx: ActionContext) -> ActionResponse:
    snapshot = await _snapshot(ctx)
    members = snapshot["groups"].get(str(ctx.value.get("group", "")))
    if members is None:
        raise Refusal(STALE)
    keys = [key for line in members for key in _keys(line, snapshot["lines"].get(line) or [])]
    # 本组已申报 is a button carrying its state; the group's menu (无需申报 with a reason, 撤销) an option.
    return await _apply(ctx, keys, str(ctx.value.get("state") or ctx.action.option or ""))


async def _snapshot(ctx: ActionContext) -> dict[str, Any]:
    snapshot = await load_snapshot(ctx.services, str(ctx.value.get("snapshot", "")))
    if snapshot is None or not snapshot.get("lines"):
        raise Refusal(STALE)
    return snapshot


def _keys(line: str, kinds: list[str]) -> list[str]:
    open_id, record_type, month = line.split(":")
    return [record_key(open_id, record_type, kind, month) for kind in kinds]


async def _apply(ctx: ActionContext, keys: list[str], choice: str) -> ActionResponse:
    services = ctx.services
    state, _, code = choice.partition(":")
    if state == UNDO:
        changed = await undo(services.store, keys)
        label, done = "撤销", f"已撤销 {changed} 条记录的标记"
    elif state == FILED or (state == NOT_NEEDED and code in NOT_NEEDED_REASONS):
        reason = NOT_NEEDED_REASONS.get(code, "") if state == NOT_NEEDED else ""
        changed = await mark(services.store, keys, state, by=ctx.user, reason=reason, at=services.clock.now())
        label, done = LABELS[state], f"已将 {changed} 条记录标记为{LABELS[state]}"
    else:
        raise Refusal("请选择要标记的申报状态")
    if not changed:
        return ActionResponse.toast(
            "没有需要改变的记录" if state == UNDO else f"这些记录已经是{label}", "info"
        )
    place = ctx.action.open_chat_id if ctx.action.open_chat_id in await digest_chats(services) else PRIVATE
    await services.store.audit(
        actor=ctx.user, action=AUDIT_KIND, subject=f"{changed} 条{label}", outcome=label, place=place
    )
    ctx.after_answer(_push(ctx, keys))
    return ActionResponse.toast(f"{done}，下次摘要和提醒将按新状态显示", "success")


async def _push(ctx: ActionContext, keys: list[str]) -> None:
    """The company's 多维表格 gets the new states (nothing to do without one)."""
    await sync_table(ctx.services, None, keys)
