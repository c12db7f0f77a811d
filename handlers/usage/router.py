"""用量 (admins): the ledger summed up; 导出 sends the month's rows as an .xlsx; budget warnings to the managers."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bot.lifecycle.services import Services
from bot.providers.billed import billed_apis, billed_providers
from bot.routing.context import ActionContext, MessageContext
from bot.routing.guards import admins_only, private_only
from bot.routing.protocol import ActionResponse
from bot.routing.roles import Role
from bot.routing.router import Router
from bot.trust.ledger import CHARGED, OPEN, UNKNOWN, BilledApi, day_bounds, month_bounds
from bot.trust.masking import mask_name
from cards.usage import (
    ProviderUsage,
    Spend,
    UsageView,
    budget_warning_card,
    moved_private_card,
    usage_card,
)
from handlers.usage.export import Names, workbook_bytes
from handlers.usage.settings import UsageSettings

log = logging.getLogger("hrbot.usage")

router = Router("usage")

NOT_ADMIN = "只有管理员可以查看用量"
CHART_DAYS = 30
TOP_USERS = 5


def _sum(rows: Iterable[dict[str, Any]]) -> Spend:
    charged = [row for row in rows if row["outcome"] in CHARGED]
    return Spend(len(charged), sum(float(row["price"]) for row in charged))


def _feature_names(services: Services) -> dict[str, str]:
    """A feature by its first command's word, as users know it (micro_ent → 小微企业)."""
    names: dict[str, str] = {}
    for command in services.catalogue.commands:
        names.setdefault(command.feature, command.name)
    return names


async def build_view(services: Services) -> UsageView:
    settings = services.settings
    now = services.clock.now()
    today, _ = day_bounds(now, settings)
    month, _ = month_bounds(now, settings)
    chart_start = today - timedelta(days=CHART_DAYS - 1)
    rows = await services.ledger.rows(min(chart_start, month))
    this_month = [row for row in rows if row["started_at"] >= month]
    of_today = [row for row in rows if row["started_at"] >= today]

    billed = billed_providers(services)
    providers = []
    for api in billed:
        breaker = await services.ledger.breaker(api.provider)
        minutes = 0
        if breaker.state == OPEN and breaker.open_until is not None:
            minutes = max(0, math.ceil((breaker.open_until - now).total_seconds() / 60))
        providers.append(
            ProviderUsage(
                name=api.provider_name,
                today=_sum(r for r in of_today if r["provider"] == api.provider),
                month=_sum(r for r in this_month if r["provider"] == api.provider),
                budget=api.monthly_budget or None,
                breaker=breaker.state,
                breaker_minutes=minutes,
            )
        )

    features = sorted({row["feature"] for row in this_month})
    by_feature = [
        (
            services.catalogue.first_command_of(name) or name,
            _sum(r for r in of_today if r["feature"] == name),
            _sum(r for r in this_month if r["feature"] == name),
        )
        for name in features
    ]

    per_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in this_month:
        per_user[row["user_id"]].append(row)
    ranked = sorted(
        ((_sum(rs), user) for user, rs in per_user.items()), key=lambda x: (-x[0].yuan, -x[0].calls)
    )
    top = [(user, spend) for spend, user in ranked if spend.calls][:TOP_USERS]
    found = await services.feishu.names(user for user, _spend in top)
    names = {user: mask_name(name) for user, name in found.items()}

    names_of = {api.provider: api.provider_name for api in billed}
    daily: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        if row["started_at"] >= chart_start and row["outcome"] in CHARGED:
            day = f"{services.local(row['started_at']):%m-%d}"
            daily[(day, row["provider"])] += float(row["price"])
    days = [f"{chart_start + timedelta(days=i):%m-%d}" for i in range(CHART_DAYS)]
    series = [(d, names_of[p], daily.get((d, p), 0.0)) for p in names_of for d in days]

    return UsageView(
        month=f"{month:%Y-%m}",
        providers=providers,
        features=by_feature,
        top_users=[(names.get(user, "同事"), spend) for user, spend in top],
        daily=series,
        unknown=sum(1 for row in this_month if row["outcome"] == UNKNOWN),
        queried_at=services.local(now),
    )


@router.command(
    "用量",
    summary="查看计费查询的花费、预算和熔断状态（管理员）",
    # Spend, budget and who asked most are not for a group: answered privately, as 审计 is.
    guards=[admins_only(NOT_ADMIN), private_only(moved_private_card)],
    takes_args=False,
)
async def usage(ctx: MessageContext) -> None:
    await ctx.reply(usage_card(await build_view(ctx.services)))


@router.action("export", guards=[admins_only(NOT_ADMIN)])
async def export(ctx: ActionContext) -> ActionResponse:
    """The month's ledger goes to the clicker privately, wherever the card is."""
    ctx.after_answer(send_export(ctx.services, ctx.user, str(ctx.value.get("month", ""))))
    return ActionResponse.toast("正在导出，文件稍后私聊发给你", "info")


async def send_export(services: Services, open_id: str, month: str) -> None:
    tz = services.settings.tz
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=tz)
    except ValueError:
        start, _ = month_bounds(services.clock.now(), services.settings)
    _, end = month_bounds(start, services.settings)
    rows = await services.ledger.rows(start, end)
    found = await services.feishu.names({row["user_id"] for row in rows})
    names = Names(
        providers={api.provider: api.provider_name for api in billed_providers(services)},
        apis={(api.provider, api.api): api.api_name for api in billed_apis(services)},
        features=_feature_names(services),
        people={user: mask_name(name) for user, name in found.items()},
    )
    data = await asyncio.to_thread(workbook_bytes, rows, f"{start:%Y-%m}", tz, names)
    file_key = await services.feishu.upload_file(data, f"用量-{start:%Y-%m}.xlsx", "xls")
    await services.feishu.send_file(open_id, file_key, id_type="open_id")


# Budget warnings -------------------------------------------------------------------------------------------------
@router.on_startup
async def listen_for_budget(services: Services) -> None:
    async def warn(api: BilledApi, spent: float, month: str) -> None:
        await send_budget_warning(services, api, spent, month)

    services.ledger.budget_listeners.append(warn)


async def send_budget_warning(services: Services, api: BilledApi, spent: float, month: str) -> None:
    """To the managers' chat, or to each admin privately when there is none."""
    card = budget_warning_card(api.provider_name, spent, api.monthly_budget or 0.0, month)
    chat = services.settings_of(UsageSettings).hrbot_manager_chat_id
    if chat:
        await services.feishu.send_card(chat, card, idempotency_key=f"budget80:{api.provider}:{month}")
        return
    for open_id in sorted(await services.roles.members(Role.ADMINS)):
        await services.feishu.send_card(open_id, card, id_type="open_id")
