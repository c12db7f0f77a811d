"""增减员摘要: what changed since a chat's previous digest, on schedule and on demand; subscriptions; 查看全部 / 导出.

A digest goes only to digest chats (HRBOT_DIGEST_CHAT_IDS and subscribed chats); asked for anywhere else it goes to
the requester privately. Names and salary figures follow handlers/adjust_records/audience.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.lifecycle.features import ConsoleAnswer
from bot.lifecycle.services import Services
from bot.routing.context import ActionContext, MessageContext
from bot.routing.errors import UserFacingError
from bot.routing.protocol import ActionResponse
from bot.routing.roles import Role
from bot.state.scheduler import crontab_trigger
from bot.trust import audit
from cards.adjust_records import (
    DigestView,
    RecordLine,
    all_lines_cards,
    digest_card,
    digest_moved_private_card,
    digest_progress_card,
    digest_refusal_card,
    group_id,
    notice_card,
    subscribed_card,
)
from cards.common import EXPIRED, FAILED, INFO, WAITING, Card
from handlers.adjust_records.audience import ChatAudience, chat_audience, digest_chats, is_hr
from handlers.adjust_records.collect import Collection
from handlers.adjust_records.export import workbook_bytes
from handlers.adjust_records.router import PRIVATE, router
from handlers.adjust_records.settings import settings_of
from handlers.adjust_records.state import baseline, save_baseline, subscribe, unsubscribe
from handlers.adjust_records.tracking import collect_with_filings, with_filings

log = logging.getLogger("hrbot.adjust_records")

CATCH_UP_WITHIN = timedelta(hours=1)
SNAPSHOT_TTL = timedelta(days=14)  # as long as a card can be clicked
# Audit kinds: a delivery to a chat is one row with the number of people in it.
DIGEST_SENT = "增减员摘要"
ALL_SENT = "增减员全部记录"
EXPORT_SENT = "增减员导出"
# The scheduled send's delay: tests seed it.
jitter = random.Random()


def current_month(services: Services) -> str:
    return f"{services.local():%Y-%m}"


# Schedule ------------------------------------------------------------------------------------------------------------
def digest_cron(services: Services) -> str:
    return settings_of(services).hrbot_digest_cron


@router.on_startup
async def catch_up_a_cut_off_digest(services: Services) -> None:
    """A digest a crash cut off (started, never finished) within the last hour is run again now."""
    assert services.scheduler is not None
    now = services.clock.now()
    slot = schedule_slot(settings_of(services).hrbot_digest_cron, services.settings.tz, now)
    key = f"digest:{slot.isoformat()}"
    if now - slot < CATCH_UP_WITHIN and await services.store.claimed(f"{key}:started"):
        if not await services.store.claimed(key):
            log.warning("the digest for %s was cut off; running it again", slot.isoformat())
            services.scheduler.at(
                router.qualified("send"), now, slot.isoformat(), key=router.qualified("digest.catch-up")
            )


def schedule_slot(cron: str, tz: Any, now: datetime) -> datetime:
    """The latest fire time of `cron` at or before `now`: the slot a (possibly late) run belongs to."""
    trigger = crontab_trigger(cron, tz)
    slot = None
    fire = trigger.get_next_fire_time(None, now - timedelta(days=8))
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return slot or now.astimezone(tz).replace(second=0, microsecond=0)


@router.cron(digest_cron, id="digest")
async def run_scheduled_digest(services: Services) -> None:
    """The send waits a random 0–5 minutes (Feishu's rate-limit doc advises against sending exactly on the hour or
    half hour), as a stored job so a restart in between still sends it."""
    slot = schedule_slot(settings_of(services).hrbot_digest_cron, services.settings.tz, services.clock.now())
    delay = jitter.uniform(0, settings_of(services).hrbot_digest_max_delay_seconds)
    assert services.scheduler is not None
    when = datetime.now(services.settings.tz) + timedelta(seconds=delay)
    services.scheduler.at(
        router.qualified("send"), when, slot.isoformat(), key=router.qualified("digest.send")
    )
    log.info("digest for %s goes out in %.0f s", slot.isoformat(), delay)


@router.job(id="send", legacy="handlers.adjust_records:run_scheduled_digest")
async def send_scheduled_digest(services: Services, slot: str) -> None:
    await post_digest(services, datetime.fromisoformat(slot))


async def post_digest(services: Services, slot: datetime) -> bool:
    """Post the slot's digest to every digest chat, once per slot.

    The slot is marked done only after the sends, and each send carries a key fixed per slot and chat: a run cut
    off half-way is run again in full, and what it had already sent lands once (Feishu dedups on the key).
    """
    slot_key = f"digest:{slot.isoformat()}"
    if await services.store.claimed(slot_key):
        log.info("digest for slot %s already posted", slot.isoformat())
        return False
    await services.store.claim([f"{slot_key}:started"])
    collection = await collect_with_filings(services)
    for chat_id in await digest_chats(services):
        try:
            audience = await chat_audience(services, chat_id)

            async def send(card: Card, chat_id: str = chat_id) -> str:
                return await services.feishu.send_card(chat_id, card, idempotency_key=f"{slot_key}:{chat_id}")

            await _send_digest(
                services, chat_id, collection, audience.full, send, audit.SYSTEM, f" · {slot:%Y-%m-%d}"
            )
            if not audience.full:
                await _warn_hr(services, audience)
        except Exception:
            log.exception("could not post the digest to chat %s", chat_id)
    await services.store.claim([slot_key])
    return True


async def _send_digest(
    services: Services,
    destination: str,
    collection: Collection,
    full: bool,
    send: Callable[[Card], Awaitable[Any]],
    actor: str,
    title_suffix: str = "",
) -> None:
    """Send one destination what changed since its previous digest; once sent, this digest is its baseline."""
    previous = await baseline(services.store, destination)
    lines = mark_changes(collection.lines, previous.fingerprints if previous else None)
    shown = lines if previous is None else [line for line in lines if line.status]
    snapshot = await save_snapshot(services, [line.key for line in shown], None, shown if full else ())
    view = DigestView(
        lines=shown,
        current_month=current_month(services),
        full=full,
        employees=collection.employees,
        total=len(collection.lines),
        since=services.local(previous.since) if previous else None,
        failed_parts=collection.failed_parts,
        snapshot=snapshot,
        controls=full,
    )
    await send(digest_card(view, queried_at=services.local(), title=f"社保增减员摘要{title_suffix}"))
    place = PRIVATE if destination.startswith("user:") else destination
    await audit.delivered(services.store, actor, DIGEST_SENT, place, people_in(shown))
    if not collection.failed_parts:
        # An incomplete collection would report the missing part as new next time: keep the old baseline.
        fingerprints = {line.key: line.fingerprint for line in collection.lines}
        await save_baseline(services.store, destination, fingerprints, services.clock.now())


def people_in(lines: list[RecordLine]) -> int:
    return len({line.open_id for line in lines})


def mark_changes(lines: list[RecordLine], previous: dict[str, str] | None) -> list[RecordLine]:
    if previous is None:
        return lines
    marked = []
    for line in lines:
        status = (
            "new" if line.key not in previous else "changed" if previous[line.key] != line.fingerprint else ""
        )
        marked.append(replace(line, status=status))
    return marked


async def _warn_hr(services: Services, audience: ChatAudience) -> None:
    """A digest chat that is not all HR got the masked digest: HR in it (or every HR) hear why, privately."""
    for open_id in audience.hr_members or tuple(await services.roles.members(Role.HR)):
        try:
            await services.feishu.send_card(
                open_id,
                notice_card(
                    "摘要群有非 HR 成员",
                    WAITING,
                    f"增减员摘要群（{audience.chat_id}）：{audience.reason}，本次摘要已隐去姓名和缴费基数。",
                    "请移出非 HR 成员，或在群里发送「取消订阅增减员摘要」。",
                ),
                id_type="open_id",
            )
        except Exception:
            log.exception("could not tell HR about chat %s", audience.chat_id)


# Snapshots: what a card's 查看全部 / 导出 refer to (record keys, no names or figures) ------------------------------
async def save_snapshot(
    services: Services, shown: list[str], scope: list[str] | None, lines: Sequence[RecordLine] = ()
) -> str:
    """`shown`: the lines the card reports; `scope`: the lines an export holds (None: every record on file);
    `lines`: the lines its state buttons act on (their insurance kinds, and their groups by id)."""
    snapshot = uuid.uuid4().hex[:16]
    groups: dict[str, list[str]] = {}
    for line in lines:
        groups.setdefault(group_id(line.month, line.record_type, line.city, line.entity), []).append(line.key)
    value = {
        "shown": shown,
        "scope": scope,
        "lines": {line.key: list(line.insurance_types) for line in lines},
        "groups": groups,
    }
    await services.store.cache_set(f"adjust_records:snapshot:{snapshot}", value, SNAPSHOT_TTL)
    return snapshot


async def load_snapshot(services: Services, snapshot: str) -> dict[str, Any] | None:
    value = await services.store.cache_get(f"adjust_records:snapshot:{snapshot}")
    return value if isinstance(value, dict) else None


# On demand ---------------------------------------------------------------------------------------------------------
@router.command(
    "增减员摘要",
    summary="立即生成增减员摘要（仅 HR）",
    example="增减员摘要",
    takes_args=False,
    shown_to=[Role.HR],
)
async def digest_now(ctx: MessageContext) -> None:
    services = ctx.services
    if not await is_hr(services, ctx.user):
        await ctx.reply(digest_refusal_card())
        return
    if not ctx.message.is_private and ctx.message.chat_id in await digest_chats(services):
        audience = await chat_audience(services, ctx.message.chat_id)
        progress = await ctx.reply(digest_progress_card())
        collection = await collect_with_filings(services)
        await _send_digest(
            services,
            ctx.message.chat_id,
            collection,
            audience.full,
            _replacing(services, progress, ctx.message.chat_id, "chat_id"),
            ctx.user,
        )
        if not audience.full:
            await _warn_hr(services, audience)
        return
    if not ctx.message.is_private:
        # Said at once: collecting the whole company's records takes a while.
        await ctx.reply(digest_moved_private_card())
    reply = ctx.reply if ctx.message.is_private else ctx.send_private
    progress = await reply(digest_progress_card())
    collection = await collect_with_filings(services)
    send = _replacing(services, progress, ctx.user, "open_id")
    await _send_digest(services, f"user:{ctx.user}", collection, True, send, ctx.user)


def _replacing(
    services: Services, message_id: str, chat: str, id_type: str
) -> Callable[[Card], Awaitable[str]]:
    """Sends a card in place of the 正在生成 card (or anew to `chat`, if that one was withdrawn meanwhile)."""

    async def send(card: Card) -> str:
        return await services.feishu.patch_card(message_id, card, resend_to=chat, id_type=id_type)

    return send


@router.action("digest_all")
async def show_all(ctx: ActionContext) -> ActionResponse:
    if not await is_hr(ctx.services, ctx.user):
        return ActionResponse.toast("只有 HR 可以查看全部增减员记录", "error")
    snapshot = await load_snapshot(ctx.services, str(ctx.value.get("snapshot", "")))
    if snapshot is None:
        return ActionResponse.toast("这份摘要已过期，请重新发送「增减员摘要」", "warning")
    # State buttons only where the card that was clicked had them (an all-HR chat or HR's private chat).
    snapshot_id = str(ctx.value.get("snapshot", "")) if snapshot.get("lines") else ""
    ctx.after_answer(_send_all(ctx.services, ctx.user, list(snapshot.get("shown") or []), snapshot_id))
    return ActionResponse.toast("正在整理，稍后私聊发给你", "info")


async def _send_all(services: Services, open_id: str, keys: list[str], snapshot: str) -> None:
    collection = await collect_with_filings(services)
    wanted = set(keys)
    lines = await with_filings(services, [line for line in collection.lines if line.key in wanted])
    cards = all_lines_cards(lines, current_month(services), queried_at=services.local(), snapshot=snapshot)
    for card in cards:
        await services.feishu.send_card(open_id, card, id_type="open_id")
    await audit.delivered(services.store, open_id, ALL_SENT, PRIVATE, people_in(lines))


@router.action("digest_export")
async def export(ctx: ActionContext) -> ActionResponse:
    if not await is_hr(ctx.services, ctx.user):
        return ActionResponse.toast("只有 HR 可以导出增减员记录", "error")
    snapshot = await load_snapshot(ctx.services, str(ctx.value.get("snapshot", "")))
    if snapshot is None:
        return ActionResponse.toast("这份摘要已过期，请重新发送「增减员摘要」", "warning")
    chat_id = ctx.action.open_chat_id
    audience = await chat_audience(ctx.services, chat_id) if chat_id else None
    in_chat = audience is not None and audience.full
    scope = snapshot.get("scope")
    ctx.after_answer(_send_export(ctx.services, ctx.user, chat_id if in_chat else ctx.user, in_chat, scope))
    return ActionResponse.toast(
        "正在导出，文件稍后发到群里" if in_chat else "正在导出，文件稍后私聊发给你", "info"
    )


async def _send_export(
    services: Services, actor: str, receive_id: str, in_chat: bool, scope: list[str] | None
) -> None:
    collection = await collect_with_filings(services)
    lines = await with_filings(
        services,
        collection.lines if scope is None else [line for line in collection.lines if line.key in set(scope)],
    )
    # Building the workbook is CPU work (≈0.7 s for 10,000 employees): off the event loop.
    data = await asyncio.to_thread(workbook_bytes, lines, current_month(services))
    name = f"增减员-{services.local():%Y%m%d-%H%M}.xlsx"
    file_key = await services.feishu.upload_file(data, name, "xls")
    await services.feishu.send_file(receive_id, file_key, id_type="chat_id" if in_chat else "open_id")
    await audit.delivered(
        services.store, actor, EXPORT_SENT, receive_id if in_chat else PRIVATE, people_in(lines)
    )


# Subscriptions -----------------------------------------------------------------------------------------------------
@router.command(
    "订阅增减员摘要",
    summary="HR 在全员为 HR 的群里订阅定时增减员摘要",
    example="订阅增减员摘要",
    takes_args=False,
    shown_to=[Role.HR],
)
async def subscribe_chat(ctx: MessageContext) -> None:
    services = ctx.services
    if not await is_hr(services, ctx.user):
        await ctx.reply(digest_refusal_card())
        return
    if ctx.message.is_private:
        await ctx.reply(
            notice_card("请在群里订阅", INFO, "订阅让摘要发到群里：请在 HR 群里 @我 发送「订阅增减员摘要」。")
        )
        return
    members = await services.feishu.chat_member_ids(ctx.message.chat_id)
    hr_ids = await services.roles.members(Role.HR)
    outsiders = [m for m in members if m not in hr_ids]
    if outsiders:
        await ctx.reply(
            notice_card(
                "无法订阅增减员摘要",
                FAILED,
                f"摘要含同事全名和缴费基数，只能发到成员全是 HR 的群；这个群有 {len(outsiders)} 位成员不是 HR。",
                "请在只有 HR 的群里订阅，或请管理员把这些成员设为 HR。",
            )
        )
        return
    if ctx.message.chat_id in settings_of(services).digest_chat_ids or not await subscribe(
        services.store, ctx.message.chat_id, ctx.user
    ):
        await ctx.reply(notice_card("已在接收增减员摘要", INFO, "这个群已经会收到增减员摘要，无需再订阅。"))
        return
    await ctx.reply(subscribed_card(settings_of(services).hrbot_digest_cron))


@router.command(
    "取消订阅增减员摘要",
    summary="HR 取消本群的增减员摘要订阅",
    example="取消订阅增减员摘要",
    takes_args=False,
    shown_to=[Role.HR],
)
async def unsubscribe_chat(ctx: MessageContext) -> None:
    services = ctx.services
    if not await is_hr(services, ctx.user):
        await ctx.reply(digest_refusal_card())
        return
    chat_id = ctx.message.chat_id
    if chat_id in settings_of(services).digest_chat_ids:
        await ctx.reply(
            notice_card(
                "无法取消",
                FAILED,
                "这个群由管理员设为摘要群，不是订阅的。",
                "请联系管理员修改配置。",
            )
        )
        return
    if ctx.message.is_private or await unsubscribe(services.store, chat_id) is None:
        await ctx.reply(notice_card("没有订阅", INFO, "这个会话没有订阅增减员摘要。"))
        return
    await ctx.reply(
        notice_card("已取消订阅", EXPIRED, "本群不再收到增减员摘要。", "发送「订阅增减员摘要」可重新订阅。")
    )


@router.event("im.chat.member.bot.deleted_v1")
async def bot_removed(services: Services, event: dict[str, Any]) -> None:
    """The bot was removed from a chat: a subscription there ends, and HR hears it privately."""
    chat_id = str(event.get("chat_id") or "")
    name = str(event.get("name") or chat_id)
    subscriber = await unsubscribe(services.store, chat_id) if chat_id else None
    if subscriber is not None:
        # The subscriber erased their data (删除我的数据): HR hears it instead.
        tell = [subscriber] if subscriber else list(await services.roles.members(Role.HR))
        text = f"机器人已被移出群「{name}」，该群的增减员摘要订阅已取消。"
    elif chat_id in settings_of(services).digest_chat_ids:
        tell = list(await services.roles.members(Role.HR))
        text = f"机器人已被移出配置的摘要群「{name}」，摘要无法再发到那里。"
    else:
        return
    log.info("bot removed from digest chat %s", chat_id)
    for open_id in tell:
        try:
            await services.feishu.send_card(
                open_id,
                notice_card("增减员摘要群已失效", WAITING, text, "如需继续接收，请在其他 HR 群里订阅。"),
                id_type="open_id",
            )
        except Exception:
            log.exception("could not tell HR that the bot left chat %s", chat_id)


async def digest_from_console(services: Services) -> ConsoleAnswer:
    """The sandbox console's 立即运行摘要: a slot per second, so every click posts a fresh digest."""
    chats = await digest_chats(services)
    if not chats:
        raise UserFacingError("没有接收摘要的群：请管理员设置摘要群，或在 HR 群里发送「订阅增减员摘要」")
    slot = services.local().replace(microsecond=0)
    if not await post_digest(services, slot):
        return ConsoleAnswer("这一秒已经运行过，请稍后再试", "warning")
    return ConsoleAnswer("摘要已发送到 {chats}", chats=chats)
