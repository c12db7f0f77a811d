"""增减员: a person's social-insurance adjust records on demand, and the scheduled HR digest."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from bot.errors import Refusal, UserFacingError
from bot.features import ConsoleAnswer
from bot.guards import hr_only, private_only
from bot.providers.base import ProviderError
from bot.providers.compensation import MAX_IDS, RECORD_TYPES, AdjustRecord, client
from bot.router import MessageContext, Router
from bot.scheduler import crontab_trigger
from bot.services import Services
from cards.adjust_records import (
    DigestData,
    DigestLine,
    PersonRecords,
    digest_card,
    moved_private_card,
    records_card,
    refusal_card,
)
from handlers.adjust_records.contacts import members
from handlers.adjust_records.settings import AdjustRecordsSettings

log = logging.getLogger("hrbot.adjust_records")

router = Router("adjust_records")

PREVIOUS_KEYS = "adjust_records:previous-digest-keys"
CATCH_UP_WITHIN = timedelta(hours=1)
# Batches in flight at once; the pacer decides the actual request rate.
MAX_BATCHES_IN_FLIGHT = 8


def settings(services: Services) -> AdjustRecordsSettings:
    return services.settings_of(AdjustRecordsSettings)


def digest_cron(services: Services) -> str:
    return settings(services).hrbot_digest_cron


@router.on_startup
async def catch_up_a_cut_off_digest(services: Services) -> None:
    """A digest a crash cut off (started, never finished) within the last hour is run again now."""
    assert services.scheduler is not None
    now = services.clock.now()
    slot = schedule_slot(digest_cron(services), services.settings.tz, now)
    key = f"digest:{slot.isoformat()}"
    if now - slot < CATCH_UP_WITHIN and await services.store.claimed(f"{key}:started"):
        if not await services.store.claimed(key):
            log.warning("the digest for %s was cut off; running it again", slot.isoformat())
            services.scheduler.at(
                router.qualified("catch_up"), now, slot.isoformat(), key=router.qualified("digest.catch-up")
            )


# On demand -----------------------------------------------------------------------------------------------------
REFUSAL = "只有 HR 可以查询其他同事的增减员记录"


async def others_only_for_hr(ctx: MessageContext) -> None:
    """Anyone may see their own records; naming colleagues is for HR."""
    if any(m.open_id for m in ctx.message.mentions) and ctx.user not in ctx.services.settings.hr_open_ids:
        raise Refusal(REFUSAL, "error", card=refusal_card())


@router.command(
    "增减员",
    "社保增减员",
    summary="查询社保/公积金增减员记录（HR 可 @同事 查询）",
    example="增减员 @张三",
    # Salary bases are not for a group's eyes: the records go to the requester privately.
    guards=[others_only_for_hr, private_only(moved_private_card)],
)
async def show_records(ctx: MessageContext) -> None:
    subjects = [m.open_id for m in ctx.message.mentions if m.open_id] or [ctx.user]
    api = client(ctx.services)
    names = await _names(ctx.services, subjects)
    by_user: dict[str, list[AdjustRecord]] = {open_id: [] for open_id in subjects}
    for record_type in RECORD_TYPES:
        for record in await api.adjust_records(subjects, record_type):
            by_user.setdefault(record.user_id, []).append(record)
    people = [
        PersonRecords(open_id, names.get(open_id, "同事"), tuple(by_user[open_id])) for open_id in subjects
    ]
    await ctx.reply(records_card(people, queried_at=_local_now(ctx.services), viewer=ctx.user))


async def _names(services: Services, open_ids: list[str]) -> dict[str, str]:
    users = await services.feishu.users_by_open_ids(open_ids)
    return {open_id: str(user.get("name") or "") for open_id, user in users.items()}


@router.command(
    "增减员摘要",
    summary="立即生成增减员摘要（仅 HR）",
    example="增减员摘要",
    guards=[hr_only(REFUSAL, refusal_card)],
)
async def digest_now(ctx: MessageContext) -> None:
    data = await collect_digest(ctx.services, await _previous_keys(ctx.services))
    await ctx.reply(digest_card(data, queried_at=_local_now(ctx.services)))


# Digest ------------------------------------------------------------------------------------------------------------
@router.cron(digest_cron, id="digest")
async def run_scheduled_digest(services: Services) -> None:
    """The slot is the latest fire time: a late run still posts its own slot's digest once."""
    await post_digest(
        services, schedule_slot(digest_cron(services), services.settings.tz, services.clock.now())
    )


@router.job(id="catch_up", legacy="handlers.adjust_records:run_scheduled_digest")
async def catch_up(services: Services, slot: str) -> None:
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
    previous = await _previous_keys(services)
    data = await collect_digest(services, previous)
    card = digest_card(data, queried_at=_local_now(services), title_suffix=f" · {slot:%Y-%m-%d}")
    for chat_id in settings(services).digest_chat_ids:
        try:
            await services.feishu.send_card(chat_id, card, idempotency_key=f"{slot_key}:{chat_id}")
        except Exception:
            log.exception("could not post the digest to chat %s", chat_id)
    await services.store.claim([slot_key])
    if not data.failed_parts:
        await services.store.cache_set(PREVIOUS_KEYS, [line.key for line in data.lines], timedelta(days=400))
    return True


def schedule_slot(cron: str, tz: Any, now: datetime) -> datetime:
    """The latest fire time of `cron` at or before `now`: the slot a (possibly late) run belongs to."""
    trigger = crontab_trigger(cron, tz)
    slot = None
    fire = trigger.get_next_fire_time(None, now - timedelta(days=8))
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return slot or now.astimezone(tz).replace(second=0, microsecond=0)


async def _previous_keys(services: Services) -> set[str]:
    return set(await services.store.cache_get(PREVIOUS_KEYS) or [])


async def collect_digest(services: Services, previous: set[str]) -> DigestData:
    """Employees of the configured departments → both record types in batches of 200, paced to 10 requests/s."""
    api = client(services)
    data = DigestData()
    names: dict[str, str] = {}
    in_flight: set[asyncio.Task[None]] = set()
    batch: list[str] = []
    batch_number = 0

    async def fetch(number: int, ids: list[str]) -> None:
        for record_type in RECORD_TYPES:
            try:
                records = await api.adjust_records(ids, record_type)
            except Exception as exc:
                # Whatever failed, the digest names the part it lacks; no employee drops out silently.
                reason = exc.user_message if isinstance(exc, ProviderError) else "飞书服务暂时不可用"
                if not isinstance(exc, ProviderError):
                    log.exception("digest batch %d failed", number)
                kind = "增员" if record_type == "increase" else "减员"
                data.failed_parts.append(f"第 {number} 批（{len(ids)} 人）的{kind}记录：{reason}")
                continue
            data.lines.extend(_lines(records, names, previous))

    async def launch(ids: list[str]) -> None:
        nonlocal batch_number
        batch_number += 1
        if len(in_flight) >= MAX_BATCHES_IN_FLIGHT:
            _done, _pending = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(fetch(batch_number, ids))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    async for user in members(services.feishu, settings(services).digest_department_ids):
        open_id = str(user["open_id"])
        names[open_id] = str(user.get("name") or "")
        data.employees += 1
        batch.append(open_id)
        if len(batch) == MAX_IDS:
            await launch(batch)
            batch = []
    if batch:
        await launch(batch)
    if in_flight:
        await asyncio.gather(*in_flight)
    data.failed_parts.sort()
    return data


def _lines(records: list[AdjustRecord], names: dict[str, str], previous: set[str]) -> list[DigestLine]:
    lines = []
    for record in records:
        by_month: dict[str, list[Any]] = {}
        for detail in record.details:
            by_month.setdefault(detail.effective_month, []).append(detail)
        for month, details in by_month.items():
            key = f"{record.user_id}:{record.record_type}:{month}"
            base = next((d.base_salary for d in details if d.base_salary), "")
            lines.append(
                DigestLine(
                    key=key,
                    name=names.get(record.user_id, "同事"),
                    record_type=record.record_type,
                    insurance_types=tuple(dict.fromkeys(d.insurance_type for d in details)),
                    month=month,
                    base_salary=base,
                    is_new=key not in previous,
                )
            )
    return lines


def _local_now(services: Services) -> datetime:
    return services.clock.now().astimezone(services.settings.tz)


async def digest_from_console(services: Services) -> ConsoleAnswer:
    """The sandbox console's 立即运行摘要: a slot per second, so every click posts a fresh digest."""
    chats = settings(services).digest_chat_ids
    if not chats:
        raise UserFacingError("没有配置接收摘要的群（HRBOT_DIGEST_CHAT_IDS）")
    slot = services.clock.now().astimezone(services.settings.tz).replace(microsecond=0)
    if not await post_digest(services, slot):
        return ConsoleAnswer("这一秒已经运行过，请稍后再试", "warning")
    return ConsoleAnswer("摘要已发送到 {chats}", chats=chats)
