"""企业社保: a company's annual-report social security figures (Juhe API 企业社保缴纳查询), cached so a company costs one call."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from bot.lifecycle.services import Services
from bot.providers.base import ProviderError
from bot.providers.juhe import SocialSecurity, SocialSecurityReport, YearReport, billed_api, client
from bot.providers.juhe_errors import juhe_error
from bot.routing.context import MessageContext
from bot.routing.router import Router
from bot.trust.validators import company_keyword_problem, looks_like_company, looks_like_uscc
from cards.enterprise_social import EXAMPLE, failed_card, report_card, usage_card

router = Router("enterprise_social")

CACHE_PREFIX = "enterprise-social:"
MISS_PREFIX = "enterprise-social-miss:"
# Juhe's "no such company" answers (查询无结果, 参数缺失, 参数不合法) cost nothing but are a call each: kept for an hour,
# so asking again for a company that does not exist is answered from here.
NOT_FOUND_CODES = frozenset({258501, 258502, 258504})
NOT_FOUND_TTL = timedelta(hours=1)

# One lookup per company at a time in this process: a second asker waits for the first answer and reads the cache.


def normalise(keyword: str) -> str:
    """Spaces collapsed; a credit code upper-cased, since that is how it is registered."""
    keyword = " ".join(keyword.split())
    return keyword.upper() if looks_like_uscc(keyword) else keyword


def _to_cache(report: SocialSecurityReport, fetched_at: datetime) -> dict[str, Any]:
    return {"report": asdict(report), "fetched_at": fetched_at.isoformat()}


def _from_cache(entry: dict[str, Any]) -> tuple[SocialSecurityReport, datetime]:
    raw = entry["report"]
    years = [
        YearReport(
            report_year=year["report_year"],
            report_date=year["report_date"],
            name=year["name"],
            social_security=SocialSecurity(**year["social_security"]),
        )
        for year in raw["years"]
    ]
    return SocialSecurityReport(name=raw["name"], years=years), datetime.fromisoformat(entry["fetched_at"])


async def lookup(
    services: Services, keyword: str, *, user: str, chat: str
) -> tuple[SocialSecurityReport, datetime, bool]:
    """The report, when it was fetched, and whether it came from the cache. Billed on a cache miss (a ledger row,
    after the quotas and the breaker let it through)."""
    key = CACHE_PREFIX + keyword
    # Two people asking for the same company at once (on any replica) share one billed call.
    async with services.store.exclusive(key):
        cached = await services.store.cache_get(key)
        if cached is not None:
            report, fetched_at = _from_cache(cached)
            return report, fetched_at, True
        missed = await services.store.cache_get(MISS_PREFIX + keyword)
        if missed is not None:
            raise juhe_error(int(missed["code"]))
        try:
            async with services.ledger.call(
                billed_api(services, "social_security"), user=user, chat=chat, feature=router.name
            ):
                report = await client(services).social_security(keyword)
        except ProviderError as exc:
            if exc.code in NOT_FOUND_CODES:
                await services.store.cache_set(MISS_PREFIX + keyword, {"code": exc.code}, NOT_FOUND_TTL)
            raise
        fetched_at = services.clock.now()
        ttl = timedelta(hours=services.settings.hrbot_cache_hours)
        entry = _to_cache(report, fetched_at)
        await services.store.cache_set(key, entry, ttl)
        if report.name and report.name != keyword:
            # Asked by code, answered with the name: asking by name next time is the same company.
            await services.store.cache_set(CACHE_PREFIX + report.name, entry, ttl)
        return report, fetched_at, False


@router.command(
    "企业社保", summary="查询企业工商年报中的社保缴纳情况", example=EXAMPLE, joined=looks_like_company
)
async def enterprise_social(ctx: MessageContext) -> None:
    keyword = normalise(ctx.args)
    if not keyword:
        await ctx.reply(usage_card())
        return
    problem = company_keyword_problem(keyword)
    if problem:
        await ctx.reply(failed_card(problem))
        return
    try:
        report, fetched_at, cached = await lookup(
            ctx.services, keyword, user=ctx.user, chat=ctx.message.chat_id
        )
    except ProviderError as exc:
        await ctx.reply(failed_card(exc.user_message, keyword))
        return
    local = fetched_at.astimezone(ctx.services.settings.tz)
    await ctx.reply(report_card(report, queried_at=local, cached=cached))
