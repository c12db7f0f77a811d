"""个人社保 (Tcredit): a private dialog — city → login form → SMS / image captcha → result — on one card.

Each step bumps the flow's version; a click carries the version it was shown with, so a double click or an old card
cannot run a step twice (the billed task is created once per submit). Form values, passwords and captcha answers
live only for the call that needs them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from datetime import datetime, timedelta
from typing import Any

from bot.lifecycle.services import Services
from bot.providers.base import ProviderError
from bot.providers.tcredit import LoginMethod, billed_api, client
from bot.routing.context import ActionContext, MessageContext
from bot.routing.errors import Refusal
from bot.routing.guards import private_only
from bot.routing.protocol import ActionResponse, Card
from bot.routing.router import Router
from bot.trust.consent import Consents, Notice
from bot.trust.personal_data import Held
from bot.trust.validators import looks_like_question, valid_id_number
from cards.common import consent_declined_card
from cards.personal_social import (
    Field,
    cancelled_card,
    captcha_card,
    city_card,
    consent_card,
    expired_card,
    failed_card,
    form_card,
    moved_private_card,
    progress_card,
    result_card,
    sms_card,
)
from handlers.personal_social.attempts import CREDENTIALS_REFUSED, Attempts, Verdict, account_key
from handlers.personal_social.state import (
    ACTIVE,
    CANCELLED,
    CITY,
    DONE,
    EXPIRED,
    FAILED,
    FEATURE,
    FORM,
    IMAGE,
    POLLED,
    RUNNING,
    SMS,
    Flow,
    Flows,
)

log = logging.getLogger("hrbot.personal_social")
# Per card being updated; a lock nobody holds or waits for goes away with its last user.
_card_updates: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

router = Router(FEATURE)

POLL_SECONDS = 2.0
POLL_JOB = router.qualified("poll")
FLOW_LIFETIME = timedelta(minutes=30)
CITIES_TTL = timedelta(days=1)
POLL_BATCH = 100
POLL_CONCURRENCY = 8
STATUS_WORDS = {1: "系统维护", 2: "开发中"}
# Login fields and codes are short; longer input is refused before the billed task is created.
MAX_FIELD_CHARS = 64
MAX_CODE_CHARS = 16
ID_FIELDS = ("id_card", "idcard")
MAX_CITY_CHARS = 32
# A city as Tcredit names it (北京, 浙江省直), typed straight after the command: `个人社保北京`.
_CITY = re.compile(r"[\u4e00-\u9fff]{2,10}")


def names_a_city(text: str) -> bool:
    return bool(_CITY.fullmatch(text)) and not looks_like_question(text)


COMMAND = "个人社保"
# Tcredit's codes after which the city itself is the problem: 重新开始 shows the city picker again.
CITY_REFUSED = ("50003", "50005")

# What the person agrees to before their login goes to Tcredit (docs/privacy.md). A changed text gets a new version.
NOTICE = Notice(
    key="personal_social.tcredit",
    version=1,
    title=COMMAND,
    provider="天创（Tcredit）",
    sent=("参保城市", "社保网站登录账号或证件号码", "登录密码", "短信或图片验证码"),
    purpose="代你登录当地社保网站，查询你本人的社保缴纳记录，结果只显示给你",
    kept="密码和验证码只用于这一次登录，从不保存；查询对话（城市、任务编号）结束后保留 7 天",
)
STEP_WORDS = {
    CITY: "选择城市",
    FORM: "填写登录信息",
    RUNNING: "查询中",
    SMS: "等待短信验证码",
    IMAGE: "等待图片验证码",
    DONE: "已完成",
    FAILED: "失败",
    EXPIRED: "已过期",
    CANCELLED: "已取消",
}


async def _cities(services: Services) -> list[dict[str, Any]]:
    """The city list is free but rarely changes: cached for a day."""
    cached = await services.store.cache_get("tcredit:cities")
    if cached is not None:
        return cached
    cities = [
        {"area_code": c.area_code, "area_name": c.area_name, "status": c.status}
        for c in await client(services).cities()
    ]
    await services.store.cache_set("tcredit:cities", cities, CITIES_TTL)
    return cities


def _fields(method: LoginMethod) -> list[Field]:
    return [
        Field(
            p.name,
            p.label,
            p.type if p.type in ("password", "select") else "text",
            p.required,
            tuple(p.options),
        )
        for p in method.params
    ]


async def _form_step(
    services: Services, flow: Flow, area_code: str, area_name: str, login_type: str | None = None
) -> Card:
    methods = await client(services).login_methods(area_code)
    if not methods:
        return failed_card(area_name, "这个城市暂时没有可用的登录方式，请换一个城市或稍后再试")
    chosen = next((m for m in methods if m.login_type == login_type), methods[0])
    advanced = await Flows(services.store).advance(
        flow.user,
        flow.version,
        services.clock.now(),
        state=FORM,
        area_code=area_code,
        area_name=area_name,
        login_type=chosen.login_type,
    )
    if advanced is None:
        raise Refusal("这张卡片已过期，请重新发起")
    pairs = [(m.login_type, m.login_name) for m in methods]
    return form_card(area_name, pairs, chosen.login_type, _fields(chosen), advanced.version)


# Starting --------------------------------------------------------------------------------------------------------
@router.command(
    COMMAND,
    summary="查询本人社保缴纳记录（私聊进行，需登录当地社保网站）",
    example="个人社保 北京",
    guards=[private_only(moved_private_card)],
    joined=names_a_city,
)
async def start(ctx: MessageContext) -> None:
    services = ctx.services
    wanted = ctx.args.strip()[:MAX_CITY_CHARS]
    if not await Consents(services.store).agreed(ctx.user, NOTICE):
        # Nothing is asked of Tcredit (not even the city list) before the person has agreed.
        await ctx.reply(consent_card(NOTICE, wanted))
        return
    flow = await _fresh_flow(services, ctx.user, ctx.message.chat_id)
    try:
        card = await _first_card(services, flow, wanted)
    except Refusal:
        return  # a newer 个人社保 from the same user took over meanwhile
    message_id = await ctx.reply(card)
    await Flows(services.store).set_message(ctx.user, message_id)


async def _fresh_flow(services: Services, user: str, chat_id: str) -> Flow:
    """A new flow; an open one's card says it was replaced."""
    flows = Flows(services.store)
    old = await flows.get(user)
    if old is not None:
        await _close_card(services, old, cancelled_card())
    now = services.clock.now()
    flow = await flows.start(user, chat_id, now, now + FLOW_LIFETIME)
    _keep_polling(services)
    return flow


async def _close_card(services: Services, flow: Flow, closed: Card) -> None:
    """An open flow's card shows how it ended; a card Feishu will not update is only logged."""
    if flow.active and flow.message_id:
        try:
            await services.feishu.patch_card(flow.message_id, closed)
        except Exception:
            log.warning("could not close the card of an ended 个人社保 dialog")


async def _first_card(services: Services, flow: Flow, wanted: str) -> Card:
    """The login form when `wanted` names an available city, else the city picker."""
    cities = await _cities(services)
    city = (
        next((c for c in cities if c["area_name"] == wanted and c["status"] == 0), None) if wanted else None
    )
    if city is not None:
        return await _form_step(services, flow, city["area_code"], city["area_name"])
    return _city_picker(cities, flow.version)


def _city_picker(cities: list[dict[str, Any]], version: int) -> Card:
    available = [(c["area_name"], c["area_code"]) for c in cities if c["status"] == 0]
    unavailable = [
        (c["area_name"], STATUS_WORDS.get(c["status"], "暂不可用")) for c in cities if c["status"] != 0
    ]
    return city_card(available, unavailable, version)


# Consent -----------------------------------------------------------------------------------------------------------
@router.action("agree")
async def agree(ctx: ActionContext) -> ActionResponse:
    """同意 on the notice: recorded, and the same card goes on to the first step."""
    services = ctx.services
    await Consents(services.store).agree(ctx.user, NOTICE)
    flow = await _fresh_flow(services, ctx.user, ctx.action.open_chat_id)
    await Flows(services.store).set_message(ctx.user, ctx.action.open_message_id)
    try:
        card = await _first_card(services, flow, str(ctx.value.get("city") or "")[:MAX_CITY_CHARS])
    except Refusal:
        return ActionResponse.toast("已同意；请重新发送「个人社保」", "info")
    return ActionResponse.toast("已同意", "success", card=card)


@router.action("refuse")
async def refuse(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.replace(consent_declined_card(NOTICE, COMMAND))


async def _still_agreed(ctx: ActionContext, flow: Flow) -> bool:
    """Consent withdrawn mid-dialog: the dialog ends before anything more goes to Tcredit."""
    if await Consents(ctx.services.store).agreed(ctx.user, NOTICE):
        return True
    await Flows(ctx.services.store).advance(
        flow.user, flow.version, ctx.services.clock.now(), state=CANCELLED
    )
    return False


# Card steps --------------------------------------------------------------------------------------------------------
async def _current(ctx: ActionContext, *states: str) -> Flow:
    """The clicker's flow, if this card is its current step; else a refusal saying why not."""
    flow = await Flows(ctx.services.store).get(ctx.user)
    if flow is None or flow.message_id != ctx.action.open_message_id:
        raise Refusal("这张卡片不是你当前的查询，请发送「个人社保」重新开始")
    if flow.state not in states or ctx.value.get("v") != flow.version:
        raise Refusal("这一步已经处理过了", "info")
    return flow


@router.action("city", aliases=["tcredit.city"])
async def choose_city(ctx: ActionContext) -> ActionResponse:
    flow = await _current(ctx, CITY)
    cities = {c["area_code"]: c for c in await _cities(ctx.services)}
    city = cities.get(ctx.action.option or "")
    if city is None or city["status"] != 0:
        return ActionResponse.toast("这个城市暂不可查询，请选择其他城市", "error")
    card = await _form_step(ctx.services, flow, city["area_code"], city["area_name"])
    return ActionResponse.replace(card)


@router.action("method", aliases=["tcredit.method"])
async def choose_method(ctx: ActionContext) -> ActionResponse:
    flow = await _current(ctx, FORM)
    card = await _form_step(ctx.services, flow, flow.area_code or "", flow.area_name or "", ctx.action.option)
    return ActionResponse.replace(card)


def _problem(method: LoginMethod, values: dict[str, str]) -> str | None:
    missing = [p.label for p in method.params if p.required and not values.get(p.name)]
    if missing:
        return "请填写：" + "、".join(missing)
    too_long = [p.label for p in method.params if len(values.get(p.name, "")) > MAX_FIELD_CHARS]
    if too_long:
        return f"{'、'.join(too_long)}最长 {MAX_FIELD_CHARS} 个字符，请检查后重试"
    for name in ID_FIELDS:
        if values.get(name) and not valid_id_number(values[name]):
            return "身份证号码校验不通过，请检查后重试"
    return None


@router.action("submit", aliases=["tcredit.submit"])
async def submit_login(ctx: ActionContext) -> ActionResponse:
    flow = await _current(ctx, FORM)
    services = ctx.services
    tcredit = client(services)
    try:
        if not await _still_agreed(ctx, flow):
            return ActionResponse.replace(consent_declined_card(NOTICE, COMMAND))
        methods = await tcredit.login_methods(flow.area_code or "")
        method = next(
            (m for m in methods if m.login_type == (flow.login_type or ctx.value.get("login_type"))), None
        )
        if method is None:
            return ActionResponse.toast("登录方式已变化，请重新选择", "warning")
        values = {p.name: str(ctx.form.get(p.name) or "").strip() for p in method.params}
        problem = _problem(method, values)
        if problem:
            pairs = [(m.login_type, m.login_name) for m in methods]
            card = form_card(
                flow.area_name or "", pairs, method.login_type, _fields(method), flow.version, problem=problem
            )
            return ActionResponse.toast(problem, "error", card=card)
        flows = Flows(services.store)
        typed = {
            p.name: values.get(p.name, "") for p in method.params if p.type not in ("password", "select")
        }
        account = account_key(services, flow.area_code or "", typed)
        # The step is taken before the billed call: a second click finds the version moved on and stops here.
        running = await flows.advance(
            flow.user,
            flow.version,
            services.clock.now(),
            state=RUNNING,
            tid=None,
            last_code=None,
            account=account,
            attempt=None,
            **_alive(services.clock.now()),
        )
        if running is None:
            return ActionResponse.toast("已提交，请勿重复提交", "info")
        verdict, attempt = await Attempts(services).begin(flow.user, account)
        if not verdict.allowed:
            await flows.advance(flow.user, running.version, services.clock.now(), state=FAILED)
            return ActionResponse.replace(failed_card(flow.area_name or "", _locked(services, verdict)))
        running = await flows.advance(flow.user, running.version, services.clock.now(), attempt=attempt)
        assert running is not None
        try:
            async with services.ledger.call(
                billed_api(services), user=ctx.user, chat=flow.chat_id, feature=router.name
            ) as entry:
                tid = await tcredit.create_task(
                    flow.area_code or "", method.login_type, {k: v for k, v in values.items() if v}
                )
                entry.ref = tid
        except (ProviderError, Refusal) as exc:
            await Attempts(services).settle(flow.user, account, attempt, refused=False)
            await flows.advance(flow.user, running.version, services.clock.now(), state=FAILED)
            return ActionResponse.replace(failed_card(flow.area_name or "", exc.user_message))
        finally:
            values.clear()
        if with_task := await flows.advance(flow.user, running.version, services.clock.now(), tid=tid):
            await _patch(services, with_task, progress_card(flow.area_name or "", "登录中"))
        return ActionResponse()
    finally:
        ctx.form.clear()


@router.action("code", aliases=["tcredit.code"])
async def submit_code(ctx: ActionContext) -> ActionResponse:
    flow = await _current(ctx, SMS, IMAGE)
    services = ctx.services
    try:
        if not await _still_agreed(ctx, flow):
            return ActionResponse.replace(consent_declined_card(NOTICE, COMMAND))
        code = str(ctx.form.get("code") or "").strip()
        if not code:
            return ActionResponse.toast("请输入验证码", "error")
        if len(code) > MAX_CODE_CHARS:
            return ActionResponse.toast(f"验证码最长 {MAX_CODE_CHARS} 位，请检查后重试", "error")
        flows = Flows(services.store)
        running = await flows.advance(
            flow.user,
            flow.version,
            services.clock.now(),
            state=RUNNING,
            answered=flow.last_code,
            **_alive(services.clock.now()),
        )
        if running is None:
            return ActionResponse.toast("验证码已提交", "info")
        try:
            await client(services).submit_code(flow.tid or "", code)
        except ProviderError as exc:
            await flows.advance(flow.user, running.version, services.clock.now(), state=FAILED)
            return ActionResponse.replace(failed_card(flow.area_name or "", exc.user_message))
        finally:
            code = ""
        await _patch(services, running, progress_card(flow.area_name or "", "验证码已提交，继续登录中"))
        return ActionResponse()
    finally:
        ctx.form.clear()


@router.action("restart", aliases=["tcredit.restart"])
async def restart(ctx: ActionContext) -> ActionResponse:
    services = ctx.services
    flows = Flows(services.store)
    old = await flows.get(ctx.user)
    if old is None or old.message_id != ctx.action.open_message_id:
        return ActionResponse.toast("请发送「个人社保」重新开始", "info")
    if not await Consents(services.store).agreed(ctx.user, NOTICE):
        return ActionResponse.replace(consent_card(NOTICE))
    now = services.clock.now()
    flow = await flows.start(ctx.user, old.chat_id, now, now + FLOW_LIFETIME)
    _keep_polling(services)
    await flows.set_message(ctx.user, ctx.action.open_message_id)
    # A login that failed (a wrong code, password or a timeout) starts again at the same city's form.
    city = "" if old.last_code in CITY_REFUSED else (old.area_name or "")
    return ActionResponse.replace(await _first_card(services, flow, city))


@router.action("cancel")
async def cancel(ctx: ActionContext) -> ActionResponse:
    flow = await _current(ctx, *ACTIVE)
    if await Flows(ctx.services.store).advance(
        flow.user, flow.version, ctx.services.clock.now(), state=CANCELLED
    ):
        return ActionResponse.replace(cancelled_card("你取消了这次查询"))
    return ActionResponse.toast("这一步已经处理过了", "info")


# Polling -----------------------------------------------------------------------------------------------------------
# The poll job exists only while a flow is in progress, so an idle bot does not run it every 2 s: a flow started puts
# it back, and it removes itself once none is left. Every start and every new leader store it again, so one removed
# just before its replica died comes back.
def _keep_polling(services: Services) -> None:
    assert services.scheduler is not None
    services.scheduler.every(POLL_JOB, timedelta(seconds=POLL_SECONDS))


@router.every(timedelta(seconds=POLL_SECONDS), id="poll", legacy="handlers.personal_social:poll_flows")
async def poll_flows(services: Services) -> None:
    """Expire abandoned flows, and move running tasks' cards along; with none in progress, stop polling."""
    flows = Flows(services.store)
    if not await flows.any_active():
        assert services.scheduler is not None
        services.scheduler.remove(POLL_JOB)
        # A flow started on another replica meanwhile may have found the job still there: look once more.
        try:
            started_meanwhile = await flows.any_active()
        except Exception:
            _keep_polling(services)  # not knowing, keep polling: a flow must never be left without its poll
            raise
        if started_meanwhile:
            _keep_polling(services)
        return
    now = services.clock.now()
    for flow in await flows.lapsed(now, POLL_BATCH):
        if expired := await flows.advance(flow.user, flow.version, now, state=EXPIRED):
            await _patch(services, expired, expired_card(flow.area_name))
    slots = asyncio.Semaphore(POLL_CONCURRENCY)

    async def bounded(flow: Flow) -> None:
        async with slots:
            await poll_one(services, flows, flow)

    await asyncio.gather(*(bounded(flow) for flow in await flows.polled(POLL_BATCH) if flow.tid))


def _alive(now: datetime) -> dict[str, Any]:
    """A step taken keeps the dialog alive for another lifetime: only abandoned flows expire."""
    return {"expires_at": now + FLOW_LIFETIME}


async def poll_one(services: Services, flows: Flows, flow: Flow) -> None:
    # Consent withdrawn (撤回同意) while the task runs: the dialog ends here, before anything more goes to Tcredit.
    if not await Consents(services.store).agreed(flow.user, NOTICE):
        now = services.clock.now()
        if await flows.advance(flow.user, flow.version, now, state=CANCELLED):
            await _close_card(services, flow, cancelled_card("你已撤回同意"))
        return
    try:
        state = await client(services).task_state(flow.tid or "")
    except ProviderError as exc:
        log.warning("task state unavailable for a flow: %s", exc.code)
        return
    # Tcredit's answer is read against the flow as it is now: a code entered while the poll waited for Tcredit is
    # what the answer may follow from (a site checking the code answers 10001 once, and that must not be missed).
    current = await flows.get(flow.user)
    if current is None or current.tid != flow.tid or current.state not in POLLED:
        return
    flow = current
    now = services.clock.now()
    area = flow.area_name or ""
    code = str(state.code)
    if state.kind == "in_progress":
        if flow.state == RUNNING and code != flow.last_code:
            if moved := await flows.advance(flow.user, flow.version, now, last_code=code, **_alive(now)):
                await _patch(services, moved, progress_card(area, state.text))
        else:
            await flows.touch(flow.user, now)
        return
    if state.kind in ("need_sms", "need_image"):
        wanted = SMS if state.kind == "need_sms" else IMAGE
        # Waiting for the user's answer, or the same request just answered and not yet taken in by Tcredit.
        # Tcredit moved on (e.g. 10001) and waits for the same kind of code again: the site asks again, so the
        # person enters it again in the same task (Tcredit's msg says why, when it says anything).
        if flow.state != RUNNING or code == flow.last_code:
            await flows.touch(flow.user, now)
            return
        again = flow.dialog.data.get("answered") == code
        image_key = ""
        if wanted == IMAGE:
            if not state.image:
                log.warning("captcha requested without an image")
                return
            image_key = await services.feishu.upload_image(state.image, "captcha.png")
        advanced = await flows.advance(
            flow.user, flow.version, now, state=wanted, last_code=code, **_alive(now)
        )
        if advanced is not None:
            problem = (state.msg[:MAX_FIELD_CHARS] or "请输入新收到的验证码") if again else None
            card = (
                sms_card(area, advanced.version, problem=problem)
                if wanted == SMS
                else captcha_card(area, image_key, advanced.version, problem=problem)
            )
            await _patch(services, advanced, card)
        return
    if state.kind in ("done", "done_partial"):
        if done := await flows.advance(flow.user, flow.version, now, state=DONE, last_code=code):
            await _settle(services, flow, refused=False)
            card = result_card(
                area, state.base_info, state.records, state.fail, services.local(now), flow.tid or ""
            )
            await _patch(services, done, card)
        return
    if state.kind == "failed" and (
        failed := await flows.advance(flow.user, flow.version, now, state=FAILED, last_code=code)
    ):
        await services.ledger.refund("tcredit", flow.tid or "")  # Tcredit rolls back a failed task's charge
        verdict = await _settle(services, flow, refused=code in CREDENTIALS_REFUSED)
        reason = state.text
        if code in CREDENTIALS_REFUSED and verdict is not None:
            reason += "。" + (
                f"还可以再试 {verdict.left} 次" if verdict.allowed else _locked(services, verdict)
            )
        await _patch(services, failed, failed_card(area, reason))


async def _settle(services: Services, flow: Flow, *, refused: bool) -> Verdict | None:
    """The login attempt counted at submit: kept when the credentials were refused, else taken off."""
    account, attempt = flow.dialog.data.get("account"), flow.dialog.data.get("attempt")
    if not account or not attempt:
        return None
    return await Attempts(services).settle(flow.user, account, attempt, refused=refused)


def _locked(services: Services, verdict: Verdict) -> str:
    """The cool-down, in the person's own card only: when to try again, not whose attempts caused it."""
    assert verdict.until is not None
    return f"登录失败次数过多，为保护账号安全已暂停登录，请在 {services.local(verdict.until):%H:%M} 后再试"


async def _patch(services: Services, flow: Flow, card: dict[str, Any]) -> None:
    """Show `flow`'s step on its card, unless the flow has moved on: one update at a time per card, so an update
    Feishu paces (230020, waited out) cannot land after a newer step's and show a stale one. A step after which the
    poll moves the task on is shown here too, not in the click's answer: Feishu applies an answer when it arrives,
    after a poll's update that was quicker, and the answer would hide the newer step."""
    if not flow.message_id:
        return
    async with _card_updates.setdefault(flow.message_id, asyncio.Lock()):
        current = await Flows(services.store).get(flow.user)
        if current is None or current.version != flow.version:
            return
        try:
            # The flow's card lives in the user's private chat; a withdrawn or too-old card is sent there anew.
            shown_in = await services.feishu.patch_card(
                flow.message_id, card, resend_to=flow.user, id_type="open_id"
            )
            if shown_in != flow.message_id:
                await Flows(services.store).set_message(flow.user, shown_in)
        except Exception:
            log.exception("could not update a personal social-security card")


# Personal data (handlers/privacy: 我的数据, 删除我的数据, people who leave) ------------------------------------------
async def held(services: Services, open_id: str) -> list[Held]:
    flow = await Flows(services.store).get(open_id)
    if flow is None:
        return []
    when = f" · {services.local(flow.updated_at):%Y-%m-%d %H:%M}" if flow.updated_at else ""
    detail = f"{flow.area_name or '未选城市'} · {STEP_WORDS.get(flow.state, flow.state)}{when}"
    days = services.settings.hrbot_dialog_retention_days
    return [Held("个人社保查询对话", detail, f"最后一步后保留 {days:g} 天（不含密码和验证码）")]


async def erase(services: Services, open_id: str) -> list[str]:
    """The dialog ends (its card says so) and is deleted."""
    flows = Flows(services.store)
    flow = await flows.get(open_id)
    if flow is None:
        return []
    await _close_card(services, flow, cancelled_card("相关个人数据已删除"))
    await flows.forget(open_id)
    return ["个人社保查询对话"]
