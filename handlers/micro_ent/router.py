"""小微企业: a billed job at Juhe, polled for free until done; the result is pushed once, even across restarts.

Pushing exactly once: a finished job's watchers are notified with a send whose idempotency key is fixed per watcher
(`micro-ent:<jobid>:<watcher>`), and marked notified afterwards. A crash between the two repeats the send after the
restart with the same key, and Feishu lands it once (it dedups a uuid for an hour); patching the card is idempotent.
So nothing is lost and nothing doubles, without a send inside a database transaction.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import timedelta

from bot.feishu.client import FeishuError, FeishuUnreachable
from bot.lifecycle.services import Services
from bot.providers.base import ProviderError
from bot.providers.juhe import UNAVAILABLE, billed_api, client
from bot.routing.context import ActionContext, MessageContext
from bot.routing.errors import Refusal
from bot.routing.router import ActionResponse, Router
from bot.trust.personal_data import Held
from bot.trust.validators import company_keyword_problem, looks_like_company
from cards.micro_ent import (
    EXPIRED_WHY,
    expired_card,
    failed_card,
    finished_notice,
    pending_card,
    result_card,
    usage_card,
)
from handlers.micro_ent.settings import MicroEntSettings
from handlers.micro_ent.state import (
    DONE,
    EXPIRED,
    FAILED,
    PENDING,
    Job,
    MicroJobs,
    Watcher,
    forget_requester,
    purge_finished,
    queries_of,
)

log = logging.getLogger("hrbot.micro_ent")

router = Router("micro_ent")

JOB_LIFETIME = timedelta(hours=24)
# Juhe's answer to a poll for a job id it does not know (juhe_errors: 查询编号已失效).
JOB_UNKNOWN = 277702
BACKOFF_FACTOR = 1.5
MAX_BACKOFF_MULTIPLE = 10
# One poll round: at most this many due jobs, this many requests at once. Memory and provider load stay bounded
# whether 10 or 10,000 jobs are pending.
ROUND_SIZE = 500
ROUND_CONCURRENCY = 16
NOTIFY_BATCH = 200
# Feishu's answers meaning the chat or user can no longer be messaged by the bot: retrying cannot help.
UNDELIVERABLE = frozenset({230002, 230013, 230017, 230027})


def poll_interval(services: Services) -> float:
    return services.settings_of(MicroEntSettings).hrbot_micro_ent_poll_seconds


def next_delay(base: float, polls: int) -> timedelta:
    """Backoff from the first interval up to ten times it."""
    return timedelta(seconds=min(base * BACKOFF_FACTOR**polls, base * MAX_BACKOFF_MULTIPLE))


def poll_tick(services: Services) -> timedelta:
    """How often due jobs are looked for: half the first interval, between 1 and 15 seconds."""
    return timedelta(seconds=min(max(poll_interval(services) / 2, 1.0), 15.0))


def _normalise(keyword: str) -> str:
    return " ".join(keyword.split()).upper() if keyword.isascii() else " ".join(keyword.split())


# Submitting --------------------------------------------------------------------------------------------------------
@router.command(
    "小微企业",
    "小微",
    summary="查询小微企业扶持信息（异步，一般 30 分钟内出结果）",
    example="小微企业 成都成电光信科技股份有限公司",
    joined=looks_like_company,
)
async def submit(ctx: MessageContext) -> None:
    keyword = _normalise(ctx.args)
    problem = company_keyword_problem(keyword)
    if problem:
        await ctx.reply(usage_card(problem))
        return
    services = ctx.services
    cached = await cached_card(services, keyword)
    if cached is not None:
        await ctx.reply(cached)
        return
    jobs = MicroJobs(services.store)
    job, joined = await join_or_submit(services, jobs, keyword, user=ctx.user, chat=ctx.message.chat_id)
    watcher_id = await jobs.add_watcher(job.jobid, ctx.user, ctx.message.chat_id, services.clock.now())
    message_id = await ctx.reply(
        pending_card(keyword, services.local(job.submitted_at), job.jobid, joined=joined)
    )
    await jobs.set_message(watcher_id, message_id)


async def cached_card(services: Services, keyword: str) -> dict | None:
    """The result card when someone's job for this company finished within HRBOT_CACHE_HOURS: no billed call."""
    cached = await services.store.cache_get(f"micro-ent:{keyword}")
    if cached is None:
        return None
    return result_card(cached["result"], services.local(services.clock.now()), cached.get("jobid"))


async def join_or_submit(
    services: Services, jobs: MicroJobs, keyword: str, *, user: str, chat: str
) -> tuple[Job, bool]:
    """The pending job for this company, or a new one: the one place a billed submit happens."""
    # One submit per company, whichever replica two requests land on.
    async with services.store.exclusive(f"micro-ent:{keyword}"):
        now = services.clock.now()
        job = await jobs.pending_for(keyword, now - JOB_LIFETIME)
        if job is not None:
            return job, True
        async with services.ledger.call(
            billed_api(services, "micro_ent"), user=user, chat=chat, feature=router.name
        ) as entry:
            jobid = await client(services).micro_ent_submit(keyword)  # billed: once, never retried here
            entry.ref = jobid
        await jobs.create(jobid, keyword, now, now + next_delay(poll_interval(services), 0))
        created = await jobs.job(jobid)
        assert created is not None
        return created, False


# Polling -----------------------------------------------------------------------------------------------------------
@router.on_startup
async def count_pending_for_metrics(services: Services) -> None:
    services.pending_probes["micro_ent"] = MicroJobs(services.store).pending_count


@router.every(poll_tick, id="poll", legacy="handlers.micro_ent:poll_round")
async def poll_round(services: Services) -> None:
    """Poll the due jobs, then tell the watchers of finished ones."""
    jobs = MicroJobs(services.store)
    due = await jobs.due(services.clock.now(), ROUND_SIZE)
    slots = asyncio.Semaphore(ROUND_CONCURRENCY)

    async def bounded(job: Job) -> None:
        async with slots:
            await poll_one(services, jobs, job)

    await asyncio.gather(*(bounded(job) for job in due))
    await notify_finished(services, jobs)


async def poll_one(services: Services, jobs: MicroJobs, job: Job) -> None:
    now = services.clock.now()
    if now >= job.submitted_at + JOB_LIFETIME:
        await jobs.finish(job.jobid, EXPIRED, now)
        return
    try:
        result = await client(services).micro_ent_result(job.jobid)
    except ProviderError as exc:
        if exc.code == JOB_UNKNOWN:
            # Juhe no longer knows the job (it lapsed there, or a restarted sandbox emulator never knew it): the
            # same end as our own 24 h limit, shown as expired with 重新查询, not as a failure.
            log.info("micro-enterprise job %s is unknown to Juhe; marking it expired", job.jobid)
            await jobs.finish(job.jobid, EXPIRED, now, error="数据源已不再保留这次查询")
        elif exc.retryable or exc.code == UNAVAILABLE:
            await jobs.reschedule(
                job.jobid, now + next_delay(poll_interval(services), job.polls + 1), job.polls + 1
            )
        else:
            await jobs.finish(job.jobid, FAILED, now, error=exc.user_message)
        return
    if result is None:
        await jobs.reschedule(
            job.jobid, now + next_delay(poll_interval(services), job.polls + 1), job.polls + 1
        )
        return
    payload = asdict(result)
    if await jobs.finish(job.jobid, DONE, now, result=payload):
        ttl = timedelta(hours=services.settings.hrbot_cache_hours)
        await services.store.cache_set(
            f"micro-ent:{job.keyword}", {"result": payload, "jobid": job.jobid}, ttl
        )


def final_card(services: Services, job: Job, requester: str) -> tuple[dict, str]:
    """The card for a finished job, and the word for the notice."""
    if job.status == DONE and job.result is not None:
        return result_card(job.result, services.local(services.clock.now()), job.jobid), "已完成"
    if job.status == EXPIRED:
        return expired_card(job.keyword, requester, job.error or EXPIRED_WHY), "已过期"
    return failed_card(job.keyword, job.error or "数据源未返回结果", requester), "失败"


async def notify_finished(services: Services, jobs: MicroJobs) -> None:
    """One pass over the watchers of finished jobs; what fails now is tried again next round."""
    while batch := await jobs.unnotified(NOTIFY_BATCH):
        delivered = [await _notify(services, jobs, job, watcher) for job, watcher in batch]
        if len(batch) < NOTIFY_BATCH or not all(delivered):
            return


async def _notify(services: Services, jobs: MicroJobs, job: Job, watcher: Watcher) -> bool:
    card, outcome = final_card(services, job, watcher.requester)
    if watcher.message_id:
        try:
            # A withdrawn or too old card is sent anew (`resend_to`): the result always reaches a card.
            await services.feishu.patch_card(watcher.message_id, card, resend_to=watcher.chat_id)
        except FeishuError as exc:
            if exc.code not in UNDELIVERABLE:
                # Passing (a timeout, a rate limit): the next round updates the card, then sends the notice.
                log.warning("could not update the card of watcher %s: code %s", watcher.id, exc.code)
                return False
        except FeishuUnreachable:
            log.warning("could not update the card of watcher %s: Feishu unreachable", watcher.id)
            return False
    try:
        await services.feishu.send_card(
            watcher.chat_id,
            finished_notice(watcher.requester, job.keyword, outcome),
            # One notice per person and chat for a job, however often they asked (each card still shows it).
            idempotency_key=f"micro-ent:{job.jobid}:{watcher.requester}:{watcher.chat_id}",
        )
    except FeishuError as exc:
        if exc.code in UNDELIVERABLE:
            log.warning("watcher %s cannot be reached (code %s); giving up", watcher.id, exc.code)
            await jobs.mark_notified(watcher.id)
            return True
        log.warning("could not notify watcher %s of job %s: code %s", watcher.id, job.jobid, exc.code)
        return False
    except Exception:
        # Left unmarked: the next round tries again, and the fixed key keeps the notice single.
        log.exception("could not notify watcher %s of job %s", watcher.id, job.jobid)
        return False
    await jobs.mark_notified(watcher.id)
    return True


# Buttons -----------------------------------------------------------------------------------------------------------
async def _own_watcher(ctx: ActionContext) -> Watcher:
    """The clicker's watcher of this card; else a refusal saying why not."""
    watcher = await MicroJobs(ctx.services.store).watcher_for_message(ctx.action.open_message_id)
    if watcher is None:
        raise Refusal("这张卡片对应的查询已不存在，请重新发起")
    if watcher.requester != ctx.user:
        raise Refusal("只有发起查询的人可以操作这张卡片", "error")
    return watcher


@router.action("refresh")
async def refresh(ctx: ActionContext) -> ActionResponse:
    """Poll this job now (free); answer with its current card."""
    watcher = await _own_watcher(ctx)
    services = ctx.services
    jobs = MicroJobs(services.store)
    job = await jobs.job(watcher.jobid)
    if job is None:
        return ActionResponse.toast("查询记录不存在，请重新发起", "warning")
    if job.status == PENDING:
        await poll_one(services, jobs, job)
        job = await jobs.job(job.jobid)
        assert job is not None
    if job.status == PENDING:
        return ActionResponse.toast("仍在查询中，完成后会通知你", "info")
    ctx.after_answer(notify_finished(services, jobs))
    card, outcome = final_card(services, job, watcher.requester)
    return ActionResponse.toast(f"查询{outcome}", "success" if job.status == DONE else "warning", card=card)


@router.action("retry")
async def retry(ctx: ActionContext) -> ActionResponse:
    """A new billed job for the same company, followed by the same card."""
    watcher = await _own_watcher(ctx)
    services = ctx.services
    jobs = MicroJobs(services.store)
    old = await jobs.job(watcher.jobid)
    if old is None or old.status not in (FAILED, EXPIRED):
        return ActionResponse.toast("这次查询不需要重新发起", "info")
    cached = await cached_card(services, old.keyword)
    if cached is not None:
        return ActionResponse.toast("已有这家企业的最新结果", "success", card=cached)
    job, _joined = await join_or_submit(
        services, jobs, old.keyword, user=ctx.user, chat=ctx.action.open_chat_id
    )
    # The card shows 查询中 before the watcher moves, so the result patches it after, however soon it comes; an
    # answer carrying 查询中 is applied when it reaches Feishu and could land after the result and hide it.
    card = pending_card(old.keyword, services.local(job.submitted_at), job.jobid)
    try:
        await services.feishu.patch_card(ctx.action.open_message_id, card)
    except (FeishuError, FeishuUnreachable) as exc:
        log.warning(
            "could not show 查询中 on the card of watcher %s (its result still updates it): %s",
            watcher.id,
            exc,
        )
    await jobs.move_watcher(watcher.id, job.jobid)
    return ActionResponse.toast("已重新提交查询", "success")


# Retention and personal data (handlers/privacy) --------------------------------------------------------------------
STATUS_WORDS = {PENDING: "查询中", DONE: "已完成", FAILED: "失败", EXPIRED: "已过期"}


def retention_days(services: Services) -> float:
    return services.settings_of(MicroEntSettings).hrbot_micro_ent_retention_days


@router.every(timedelta(hours=1), id="purge")
async def purge_delivered(services: Services) -> None:
    """Delivered results (and who asked) older than HRBOT_MICRO_ENT_RETENTION_DAYS."""
    removed = await purge_finished(
        services.store, services.clock.now() - timedelta(days=retention_days(services))
    )
    if removed:
        log.info("purged %d delivered micro-enterprise results", removed)


async def held(services: Services, open_id: str) -> list[Held]:
    kept = f"结果送达后保留 {retention_days(services):g} 天"
    return [
        Held(
            "小微企业查询",
            f"{company} · {STATUS_WORDS.get(status, status)} · {services.local(at):%Y-%m-%d %H:%M}",
            kept,
        )
        for company, status, at in await queries_of(services.store, open_id)
    ]


async def erase(services: Services, open_id: str) -> list[str]:
    """Who asked is forgotten (a pending query is no longer pushed to them); the company's result is not theirs."""
    removed = await forget_requester(services.store, open_id)
    return [f"小微企业查询 {removed} 条"] if removed else []
