"""增减员: a person's social-insurance adjust records on demand (the digest is in digest.py, reminders in filing.py;
all three register on this one router)."""

from __future__ import annotations

from bot.lifecycle.services import Services
from bot.providers.compensation import RECORD_TYPES, AdjustRecord
from bot.providers.compensation import client as compensation_api
from bot.routing.context import MessageContext
from bot.routing.errors import Refusal
from bot.routing.guards import private_only
from bot.routing.router import Router
from bot.trust import audit
from cards.adjust_records import (
    PersonRecords,
    RecordNames,
    moved_private_card,
    not_found_card,
    records_card,
    refusal_card,
)
from handlers.adjust_records.audience import full_view_in_private, is_hr
from handlers.adjust_records.names import NameBook
from handlers.adjust_records.people import names_contacts, resolve_people

router = Router("adjust_records")

# Audit kinds (bot/trust/audit.py), in the words the 审计 card shows.
RECORDS_SEEN = "增减员记录"
PRIVATE = "私聊"


# On demand ---------------------------------------------------------------------------------------------------------
async def others_only_for_hr(ctx: MessageContext) -> None:
    """Anyone may see their own records; naming colleagues (by mention, email, mobile or name) is for HR."""
    named = ctx.argv or any(m.open_id for m in ctx.message.mentions)
    if named and not await is_hr(ctx.services, ctx.user):
        raise Refusal("只有 HR 可以查询其他同事的增减员记录", "error", card=refusal_card())


@router.command(
    "增减员",
    "社保增减员",
    summary="查询社保/公积金增减员记录（HR 可 @同事、邮箱、手机号或姓名查询）",
    example="增减员 @张三",
    # Salary bases are not for a group's eyes: the records go to the requester privately.
    guards=[others_only_for_hr, private_only(moved_private_card)],
    joined=names_contacts,
)
async def show_records(ctx: MessageContext) -> None:
    services = ctx.services
    resolution = (
        await resolve_people(services, ctx.message.mentions, ctx.args)
        if ctx.args or ctx.message.mentions
        else None
    )
    if resolution is not None and (resolution.missing or resolution.ambiguous or resolution.too_many):
        # Never a silent fallback to the asker's own records: say what named nobody.
        await ctx.reply(
            not_found_card(resolution.missing, resolution.ambiguous, too_many=resolution.too_many)
        )
        return
    subjects = resolution.open_ids if resolution is not None and resolution.open_ids else [ctx.user]
    api = compensation_api(services)
    names = await _names(services, subjects)
    by_user: dict[str, list[AdjustRecord]] = {open_id: [] for open_id in subjects}
    for record_type in RECORD_TYPES:
        for record in await api.adjust_records(subjects, record_type):
            by_user.setdefault(record.user_id, []).append(record)
    people = [
        PersonRecords(
            open_id,
            names.get(open_id, "同事"),
            tuple(by_user[open_id]),
            # Records go to the requester privately: the private rule decides.
            full=await full_view_in_private(services, ctx.user, open_id),
        )
        for open_id in subjects
    ]
    await ctx.reply(
        records_card(people, queried_at=services.local(), names=await _record_names(services, by_user))
    )
    # Records always reach the requester privately; reading a colleague's is an audit row per colleague.
    await audit.viewed(services.store, ctx.user, subjects, RECORDS_SEEN, PRIVATE)


async def _names(services: Services, open_ids: list[str]) -> dict[str, str]:
    users = await services.feishu.users_by_open_ids(open_ids)
    return {open_id: str(user.get("name") or "") for open_id, user in users.items()}


async def _record_names(services: Services, by_user: dict[str, list[AdjustRecord]]) -> RecordNames:
    details = [d for records in by_user.values() for r in records for d in r.details]
    if not details:
        return RecordNames()
    book = NameBook(services.feishu, services.store)
    locations = await book.locations(d.location_id for d in details)
    companies = await book.companies(d.company_id for d in details)
    return RecordNames(
        locations={k: v.name for k, v in locations.items()},
        companies={k: v.name for k, v in companies.items()},
        insurances=await book.insurances(),
    )
