"""企业核验: anyone asks, a manager verifies (Juhe's 企业四要素核验), from a request card posted in the chat and the
managers' chat.

The request's full name and ID number stay server-side (`state.py`); cards and button values carry masked
values and the request id. 核验 and 驳回 claim `four-factors:<request>:<attempt>` in the dedup store, so two managers
clicking at once, or one clicking twice, make one decision and at most one billed call. A failed call moves the
request to the next attempt: 重新核验 is a new claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.lifecycle.services import Services
from bot.providers.base import SERVICE_UNAVAILABLE, ProviderError
from bot.providers.juhe import FourFactorsMode, FourFactorsResult, JuheSettings, billed_api, client
from bot.routing.context import ActionContext, MessageContext
from bot.routing.errors import Refusal
from bot.routing.guards import managers_only
from bot.routing.protocol import ActionResponse, Card
from bot.routing.router import Router
from bot.trust.consent import Consents, Notice
from bot.trust.masking import mask_name
from bot.trust.personal_data import Held
from bot.trust.sealing import Sealing
from bot.trust.validators import valid_id_number, valid_reg_number, valid_uscc
from cards.common import consent_declined_card
from cards.four_factors import (
    Outcome,
    RequestView,
    consent_card,
    expired_card,
    failed_card,
    form_card,
    invalid_card,
    rejected_card,
    request_card,
    result_card,
    usage_card,
    verifying_card,
    withdrawn_card,
)
from handlers.four_factors.settings import FourFactorsSettings
from handlers.four_factors.state import (
    DONE,
    EXPIRED,
    OPEN,
    REJECTED,
    VERIFYING,
    WITHDRAWN,
    VerificationRequest,
    Verifications,
)

log = logging.getLogger("hrbot.four_factors")

router = Router("four_factors")

AUDIT_ACTION = "企业核验"  # audit kind: a manager's decision
# Undecided requests are closed (and their full ID numbers erased) after this long.
REQUEST_LIFETIME = timedelta(days=7)
# A verification still 核验中 after this long was cut off (a restart mid-call): its outcome is unknown.
INTERRUPTED_AFTER = timedelta(minutes=10)
INTERRUPTED = "核验过程被中断，结果未知；如需可重新核验（会再次收费）"

NOT_A_MANAGER = "只有管理员可以核验或驳回企业核验申请"
NOT_THE_REQUESTER = "只有申请人可以同意"
# What was typed with the command rides on the consent notice's 同意, sealed, this long: as long as an undecided
# request would keep it.
TYPED_KEPT = REQUEST_LIFETIME
COMMAND = "企业核验"
# Open (waiting or being verified) requests one person may have at once.
MAX_OPEN_PER_REQUESTER = 3

# What the requester agrees to before a named person's data is stored and, once a manager verifies, sent to Juhe
# (docs/privacy.md). A changed text gets a new version.
NOTICE = Notice(
    key="four_factors.juhe",
    version=1,
    title=COMMAND,
    provider="聚合数据（Juhe）",
    sent=("企业全称", "统一社会信用代码或注册号", "法人/负责人姓名", "法人/负责人身份证号码"),
    purpose="管理员核验时发送一次，核验此人是否为该企业登记的法人/负责人；请确认你已取得本人同意",
    kept="完整姓名和证件号码只保存到核验、驳回或撤回为止（最长 7 天），之后只留打码信息，90 天后删除",
)
STATUS_WORDS = {
    "pending": "待核验",
    VERIFYING: "核验中",
    DONE: "已核验",
    "failed": "核验失败，待重试",
    REJECTED: "已驳回",
    EXPIRED: "已过期",
    WITHDRAWN: "已撤回",
}


def _mode(services: Services) -> FourFactorsMode:
    return services.settings_of(JuheSettings).four_factors_mode


# Asking ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Factors:
    entname: str
    entmark: str
    realname: str
    idcard: str

    @classmethod
    def cleaned(cls, entname: str, entmark: str, realname: str, idcard: str) -> Factors:
        return cls(
            " ".join(entname.split()), entmark.strip().upper(), realname.strip(), idcard.strip().upper()
        )

    def problems(self) -> list[str]:
        """Why the call would be wasted; the values themselves are never echoed (the reply may be in a group)."""
        problems = []
        if not 4 <= len(self.entname) <= 100:
            problems.append("请填写营业执照上的企业全称（4 到 100 个字）")
        if not (valid_uscc(self.entmark) or valid_reg_number(self.entmark)):
            problems.append("企业标识不是有效的统一社会信用代码（18 位）或注册号（15 位），请核对校验位")
        if not self.realname or len(self.realname) > 30 or any(c.isdigit() for c in self.realname):
            problems.append("请填写法人/负责人的姓名")
        if not valid_id_number(self.idcard):
            problems.append("证件号码不是有效的 18 位身份证号码（出生日期或校验位不符）")
        return problems


@router.command(
    "企业核验",
    summary="企业四要素核验：发送后填写表单，由管理员核验",
    example="企业核验",
    joined=lambda rest: len(rest.split()) >= 4,
)
async def ask(ctx: MessageContext) -> None:
    if not await Consents(ctx.services.store).agreed(ctx.user, NOTICE):
        # Nothing typed is stored before the requester has agreed: 同意 carries it, sealed, and the request goes on.
        await ctx.reply(_notice(ctx))
        return
    typed = _typed(ctx.argv, ctx.message.chat_id if ctx.message.is_private else "")
    if not isinstance(typed, Factors):
        await ctx.reply(typed)
        return
    services = ctx.services
    message = ctx.message
    request = await _create(services, ctx.user, message.chat_id, typed, private=message.is_private)
    cards = await _copies(services, request, request_card)
    copies = [await ctx.reply(cards.own)]
    copies += await _post_to_managers(services, cards.shared, message.chat_id)
    await Verifications(services.store).set_messages(request.id, copies)


def _notice(ctx: MessageContext) -> Card:
    """The consent notice for whoever typed the command; what came with it sealed to them, this chat and message."""
    message = ctx.message
    private_chat = message.chat_id if message.is_private else ""
    if not ctx.args.strip():
        return consent_card(NOTICE, ctx.user, private_chat=private_chat)
    until = ctx.services.clock.now() + TYPED_KEPT
    sealed = _carrier(ctx.services).seal_text(
        {"typed": ctx.args, "until": until.timestamp()}, _place(ctx.user, message.chat_id, message.message_id)
    )
    return consent_card(NOTICE, ctx.user, message.message_id, sealed, private_chat=private_chat)


def _carrier(services: Services) -> Sealing:
    settings = services.settings
    return Sealing("hrbot-card.four_factors.typed", settings.feishu_app_secret, settings.feishu_encrypt_key)


def _place(requester: str, chat_id: str, message_id: str) -> str:
    return f"{requester}\0{chat_id}\0{message_id}"


def _in_private(ctx: ActionContext) -> str:
    """The chat clicked in, if the card says it is the clicker's private chat with the bot (a card forwarded
    elsewhere is not)."""
    chat = ctx.action.open_chat_id
    return chat if ctx.value.get("private_chat") == chat else ""


def _typed(argv: list[str], private_chat: str = "") -> Factors | Card:
    """The four factors typed after the command, or the card saying what to do instead (the form when none)."""
    if not argv:
        return form_card(private_chat)
    if len(argv) < 4:
        return usage_card("需要 4 项信息：企业全称、企业标识、法人/负责人姓名、证件号码")
    # The last three are single words; whatever comes before is the company name (it may contain spaces).
    factors = Factors.cleaned(" ".join(argv[:-3]), *argv[-3:])
    problems = factors.problems()
    return invalid_card(problems) if problems else factors


@router.action("submit")
async def submit(ctx: ActionContext) -> ActionResponse:
    """The form: the same card becomes the request card."""
    if not await Consents(ctx.services.store).agreed(ctx.user, NOTICE):
        notice = consent_card(NOTICE, ctx.user, private_chat=_in_private(ctx))
        return ActionResponse.toast("请先阅读并同意个人信息使用告知", "warning", card=notice)
    form = ctx.form
    factors = Factors.cleaned(
        *(str(form.get(name) or "") for name in ("entname", "entmark", "realname", "idcard"))
    )
    problems = factors.problems()
    if problems:
        return ActionResponse.toast("；".join(problems), "error")
    card = await _submit_in_place(ctx, factors)
    if card is None:
        return ActionResponse.toast("这张表单已经提交过了", "info")
    return ActionResponse.toast("已提交，等待管理员核验", "success", card=card)


async def _submit_in_place(ctx: ActionContext, factors: Factors, once: str = "") -> Card | None:
    """The clicked card (form or notice) becomes the request card, once (and once for `once`, when given); None if
    it already did."""
    services = ctx.services
    clicked = ctx.action.open_message_id
    if not await services.store.claim([f"four-factors-form:{clicked}", *([once] if once else [])]):
        return None
    chat = ctx.action.open_chat_id
    request = await _create(services, ctx.user, chat, factors, private=bool(_in_private(ctx)))
    cards = await _copies(services, request, request_card)
    copies = [clicked, *await _post_to_managers(services, cards.shared, chat)]
    await Verifications(services.store).set_messages(request.id, copies)
    return cards.own


async def _create(
    services: Services, requester: str, chat_id: str, factors: Factors, *, private: bool
) -> VerificationRequest:
    """A new request, unless the requester has MAX_OPEN_PER_REQUESTER open already or the same one is open: each
    posts a card in the managers' chat and keeps a full ID number, so a flood of them is refused."""
    verifications = Verifications(services.store)
    async with services.store.exclusive(f"four-factors:ask:{requester}"):
        open_ones = [r for r in await verifications.of_requester(requester) if r.status in (*OPEN, VERIFYING)]
        same = (factors.entname, factors.entmark, factors.realname, factors.idcard)
        if any((r.entname, r.entmark, r.realname, r.idcard) == same for r in open_ones):
            raise Refusal("同样的核验申请已在等待管理员处理，无需重复提交", "info", title="已有相同申请")
        if len(open_ones) >= MAX_OPEN_PER_REQUESTER:
            raise Refusal(
                f"你已有 {len(open_ones)} 条核验申请在等待处理，请等管理员处理或撤回后再提交",
                title="待处理的申请过多",
            )
        return await verifications.create(
            requester=requester,
            chat_id=chat_id,
            private=private,
            entname=factors.entname,
            entmark=factors.entmark,
            realname=factors.realname,
            idcard=factors.idcard,
            now=services.clock.now(),
        )


async def _post_to_managers(services: Services, card: Card, chat_id: str) -> list[str]:
    manager_chat = services.settings_of(FourFactorsSettings).hrbot_manager_chat_id
    if not manager_chat or manager_chat == chat_id:
        return []
    try:
        return [await services.feishu.send_card(manager_chat, card)]
    except Exception:
        # The copy in the asker's chat still works; managers can act there.
        log.exception("could not post the verification request to the managers' chat")
        return []


# Consent -----------------------------------------------------------------------------------------------------------
@router.action("agree")
async def agree(ctx: ActionContext) -> ActionResponse:
    """同意 by the person who typed the command: recorded, and the request goes on as typed. Anyone else's click
    (in a group) changes nothing: the notice and what it carries stay the requester's."""
    requester = ctx.value.get("requester")
    if requester and requester != ctx.user:
        return ActionResponse.toast(NOT_THE_REQUESTER, "warning")
    await Consents(ctx.services.store).agree(ctx.user, NOTICE)
    form = form_card(_in_private(ctx))
    sealed = str(ctx.value.get("sealed") or "")
    if not sealed:
        return ActionResponse.toast("已同意，请填写核验信息", "success", card=form)
    source = str(ctx.value.get("source") or "")
    try:
        carried = _carrier(ctx.services).open_text(sealed, _place(ctx.user, ctx.action.open_chat_id, source))
        typed, until = str(carried["typed"]), float(carried["until"])
    except (ValueError, KeyError, TypeError):
        # Not sealed for this person in this chat (a forwarded notice), or under secrets since changed.
        return ActionResponse.toast("已同意；之前输入的信息无法带入，请重新填写", "warning", card=form)
    if ctx.services.clock.now().timestamp() > until:
        return ActionResponse.toast(
            f"已同意；之前输入的信息已超过 {TYPED_KEPT.days} 天，不再保留，请重新填写",
            "warning",
            card=form,
        )
    factors = _typed(typed.split(), _in_private(ctx))
    if not isinstance(factors, Factors):
        return ActionResponse.toast("已同意", "success", card=factors)
    card = await _submit_in_place(ctx, factors, once=f"four-factors-typed:{source}")
    if card is None:
        return ActionResponse.toast("这条申请已经提交过了", "info")
    return ActionResponse.toast("已同意并提交，等待管理员核验", "success", card=card)


@router.action("refuse")
async def refuse(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.replace(consent_declined_card(NOTICE, COMMAND))


# Deciding ----------------------------------------------------------------------------------------------------------
async def _open_request(ctx: ActionContext) -> VerificationRequest:
    """The request this button is about, if it can be decided now; else a refusal saying why not."""
    request = await Verifications(ctx.services.store).get(str(ctx.value.get("request", "")))
    if request is None:
        raise Refusal("找不到这条核验申请，请重新发起")
    if request.status not in OPEN or ctx.value.get("attempt") != request.attempt:
        raise Refusal(_state_text(request.status), "info")
    if not await ctx.services.store.claim([f"four-factors:{request.id}:{request.attempt}"]):
        raise Refusal("其他管理员正在处理这条申请", "info")
    return request


def _state_text(status: str) -> str:
    return {
        VERIFYING: "这条申请正在核验中",
        DONE: "这条申请已核验完成",
        REJECTED: "这条申请已被驳回",
        EXPIRED: "这条申请已过期，请重新发起",
        WITHDRAWN: "这条申请已被申请人撤回",
    }.get(status, "这张卡片已更新，请查看最新状态")


@router.action("new")
async def new_request(ctx: ActionContext) -> ActionResponse:
    """From a result card: a new, empty form in the same chat; the result card stays as it is."""
    await ctx.services.feishu.send_card(ctx.action.open_chat_id, form_card(_in_private(ctx)))
    return ActionResponse.toast("已发送新的核验表单", "success")


@router.action("verify", guards=[managers_only(NOT_A_MANAGER)])
async def verify(ctx: ActionContext) -> ActionResponse:
    request = await _open_request(ctx)
    if not await Consents(ctx.services.store).agreed(request.requester, NOTICE):
        # 撤回同意 (or 删除我的数据) since the request was made: its ID number must not go to Juhe.
        card = await _close_withdrawn(ctx.services, request, clicked=ctx.action.open_message_id)
        return ActionResponse.toast("申请人已撤回同意，这条申请已关闭，未发起查询", "info", card=card)
    await Verifications(ctx.services.store).start(request.id, ctx.user, ctx.services.clock.now())
    # The call may take seconds: answer the click now, update every copy when Juhe has answered.
    ctx.after_answer(
        run_verification(ctx.services, request, ctx.user, ctx.action.open_message_id, ctx.action.open_chat_id)
    )
    return ActionResponse.toast("正在核验，完成后会更新卡片", "info")


async def run_verification(
    services: Services, request: VerificationRequest, manager: str, clicked_message: str, place: str = ""
) -> None:
    """The single billed call for this attempt, then every copy of the card shows the outcome."""
    store = Verifications(services.store)
    verifier = await _masked_name(services, manager)
    # The clicked copy is one of the request's; were it not (an older request), it is updated all the same.
    verifying = await _copies(services, request, lambda view: verifying_card(view, verifier))
    request = await _patch_all(services, request, verifying, extra=clicked_message)
    assert request.realname is not None and request.idcard is not None  # open requests keep them
    try:
        async with services.ledger.call(
            billed_api(services, "four_factors"), user=manager, chat=request.chat_id, feature=router.name
        ) as entry:
            result = await client(services).four_factors(
                request.entname, request.entmark, request.realname, request.idcard, mode=_mode(services)
            )
            entry.ref = result.orderid
    except (ProviderError, Refusal) as exc:
        # Refusal: a quota, the budget or the breaker stopped the call; the request stays open to retry.
        await _failed(services, request, manager, verifier, clicked_message, exc.user_message, place)
        return
    except Exception:
        # A bug must not leave the request stuck in 核验中: it fails like an unavailable provider.
        log.exception("four-factor verification %s failed", request.id)
        await _failed(services, request, manager, verifier, clicked_message, SERVICE_UNAVAILABLE, place)
        return
    now = services.clock.now()
    outcome = _outcome(result, verifier, services.local(now))
    await store.decide(request.id, DONE, _stored(result), manager, now)
    verdict = "consistent" if result.consistent else "inconsistent"
    await _audit(services, request, manager, verdict, result.orderid, _stored(result), place)
    results = await _copies(services, request, lambda view: result_card(view, outcome))
    await _patch_all(services, request, results, extra=clicked_message)


async def _failed(
    services: Services,
    request: VerificationRequest,
    manager: str,
    verifier: str,
    clicked_message: str,
    reason: str,
    place: str,
) -> None:
    """No verdict: the request stays open for 重新核验, which is the next attempt (a new claim)."""
    now = services.clock.now()
    await Verifications(services.store).fail(request.id, request.attempt, reason, manager, now)
    await _audit(
        services, request, manager, "failed", None, {"error": reason, "mode": _mode(services)}, place
    )
    at = services.local(now)

    def draw(view: RequestView) -> Card:
        return failed_card(replace(view, attempt=request.attempt + 1), reason, verifier, at)

    await _patch_all(services, request, await _copies(services, request, draw), extra=clicked_message)


@router.action("reject", guards=[managers_only(NOT_A_MANAGER)])
async def reject(ctx: ActionContext) -> ActionResponse:
    request = await _open_request(ctx)
    services = ctx.services
    now = services.clock.now()
    await Verifications(services.store).decide(request.id, REJECTED, None, ctx.user, now)
    await _audit(services, request, ctx.user, "rejected", None, None, ctx.action.open_chat_id)
    manager, at = await _masked_name(services, ctx.user), services.local(now)
    cards = await _copies(services, request, lambda view: rejected_card(view, manager, at))
    # The clicked copy takes the card from the callback's answer; the others are patched.
    clicked = ctx.action.open_message_id
    ctx.after_answer(_patch_all(services, request, cards, skip=clicked))
    return ActionResponse.toast("已驳回", "success", card=cards.of(request, clicked))


# Withdrawing -------------------------------------------------------------------------------------------------------
@router.action("withdraw")
async def withdraw(ctx: ActionContext) -> ActionResponse:
    """The requester takes back an open request: its ID number is erased at once and every copy says so."""
    services = ctx.services
    request = await Verifications(services.store).get(str(ctx.value.get("request", "")))
    if request is None:
        return ActionResponse.toast("找不到这条核验申请", "warning")
    if request.requester != ctx.user:
        return ActionResponse.toast("只有申请人可以撤回这条申请", "error")
    if request.status not in OPEN:
        return ActionResponse.toast(_state_text(request.status), "info")
    # The same claim as 核验 / 驳回: a withdrawal and a decision cannot both happen.
    if not await services.store.claim([f"four-factors:{request.id}:{request.attempt}"]):
        return ActionResponse.toast("管理员正在处理这条申请，无法撤回", "info")
    card = await _close_withdrawn(services, request, clicked=ctx.action.open_message_id)
    return ActionResponse.toast("已撤回，证件信息已删除", "success", card=card)


async def _close_withdrawn(services: Services, request: VerificationRequest, clicked: str = "") -> Card:
    """Every copy but the clicked one is patched; the clicked copy's card is returned (the callback's answer)."""
    await Verifications(services.store).withdraw(request.id)
    cards = await _copies(services, request, withdrawn_card)
    await _patch_all(services, request, cards, skip=clicked)
    return cards.of(request, clicked)


# Housekeeping ------------------------------------------------------------------------------------------------------
@router.every(timedelta(hours=1), id="expire", legacy="handlers.four_factors:expire_stale")
async def expire_stale(services: Services) -> None:
    """Close requests nobody decided within REQUEST_LIFETIME, erasing their ID numbers, and reopen verifications a
    restart cut off mid-call."""
    store = Verifications(services.store)
    now = services.clock.now()
    for request in await store.expire(now - REQUEST_LIFETIME):
        await _patch_all(services, request, await _copies(services, request, expired_card))
    at = services.local(now)
    for request in await store.interrupted(now - INTERRUPTED_AFTER, INTERRUPTED):
        cards = await _copies(services, request, lambda view: failed_card(view, INTERRUPTED, "—", at))
        await _patch_all(services, request, cards)


@router.every(timedelta(hours=1), id="purge")
async def purge_closed(services: Services) -> None:
    """Closed requests older than HRBOT_VERIFICATION_RETENTION_DAYS are deleted (the audit rows stay)."""
    days = services.settings_of(FourFactorsSettings).hrbot_verification_retention_days
    removed = await Verifications(services.store).purge(services.clock.now() - timedelta(days=days))
    if removed:
        log.info("purged %d closed verification requests", removed)


# Personal data (handlers/privacy) ----------------------------------------------------------------------------------
async def held(services: Services, open_id: str) -> list[Held]:
    days = services.settings_of(FourFactorsSettings).hrbot_verification_retention_days
    return [
        Held(
            "企业核验申请",
            f"{request.entname} · {request.masked_name} {request.masked_idcard} · "
            f"{STATUS_WORDS.get(request.status, request.status)} · {services.local(request.created_at):%Y-%m-%d %H:%M}",
            f"完整证件号码保存到核验、驳回或撤回为止；申请 {days:g} 天后删除",
        )
        for request in await Verifications(services.store).of_requester(open_id)
    ]


async def erase(services: Services, open_id: str) -> list[str]:
    """Open requests are withdrawn (their cards say so); then every request the person made is deleted."""
    store = Verifications(services.store)
    requests = await store.of_requester(open_id)
    for request in requests:
        if request.status in OPEN:
            await _close_withdrawn(services, request)
    removed = await store.forget([r.id for r in requests])
    return [f"企业核验申请 {removed} 条"] if removed else []


# Helpers -----------------------------------------------------------------------------------------------------------
async def _masked_name(services: Services, open_id: str) -> str:
    name = (await services.feishu.names([open_id])).get(open_id)
    return mask_name(name) if name else "同事"


async def _view(services: Services, request: VerificationRequest, *, own: bool = False) -> RequestView:
    """`own`: the copy in the requester's private chat, which names them in full (their own name is not masked to
    themselves); every other copy is seen by a group and masks it."""
    requester = await _masked_name(services, request.requester)
    if own:
        requester = (await services.feishu.names([request.requester])).get(request.requester) or requester
    return RequestView(
        request_id=request.id,
        attempt=request.attempt,
        entname=request.entname,
        entmark=request.entmark,
        masked_name=request.masked_name,
        masked_idcard=request.masked_idcard,
        requester=requester,
        requested_at=services.local(request.created_at),
        private_chat=request.chat_id if own else "",
    )


@dataclass(frozen=True)
class Copies:
    """A request's card as its copies show it: `own` in the requester's chat (their private chat: their full
    name), `shared` everywhere else."""

    own: Card
    shared: Card

    def of(self, request: VerificationRequest, message_id: str) -> Card:
        return self.own if request.message_ids[:1] == (message_id,) else self.shared


async def _copies(
    services: Services, request: VerificationRequest, draw: Callable[[RequestView], Card]
) -> Copies:
    shared = draw(await _view(services, request))
    return Copies(draw(await _view(services, request, own=True)) if request.private else shared, shared)


def _outcome(result: FourFactorsResult, verifier: str, at: datetime) -> Outcome:
    return Outcome(
        consistent=result.consistent,
        mode=result.mode,
        orderid=result.orderid,
        detail_code=result.detail_code,
        detail_desc=result.detail_desc,
        res=result.res,
        regstatus=result.regstatus,
        verifier=verifier,
        verified_at=at,
    )


def _stored(result: FourFactorsResult) -> dict[str, Any]:
    """What is kept of a verdict (no personal data is in it)."""
    return {
        "consistent": result.consistent,
        "mode": result.mode,
        "orderid": result.orderid,
        "state": result.state,
        "detail_code": result.detail_code,
        "res": result.res,
        "regstatus": result.regstatus,
    }


async def _audit(
    services: Services,
    request: VerificationRequest,
    manager: str,
    outcome: str,
    orderid: str | None,
    detail: dict[str, Any] | None,
    place: str,
) -> None:
    """A manager deciding saw the request (the requester's, by open_id): the decision is its audit row."""
    await services.store.audit(
        actor=manager,
        action=AUDIT_ACTION,
        subject=f"{request.entname} {request.entmark}",
        outcome=outcome,
        ref=orderid,
        subject_id=request.requester,
        place=place,
        detail={
            "request": request.id,
            "requester": request.requester,
            "name": request.masked_name,
            "idcard": request.masked_idcard,
            **(detail or {}),
        },
    )


async def _patch_all(
    services: Services, request: VerificationRequest, cards: Copies, *, extra: str = "", skip: str = ""
) -> VerificationRequest:
    """Every copy of the request's card shows its card of `cards` (`extra` too, `skip` not). A copy Feishu will no longer update
    (withdrawn, or too old: bot.feishu.client.MessageGone) is sent anew into its own chat, and the request remembers the new
    message; the request is returned with its messages as they now are."""
    ids = list(request.message_ids)
    chats = _copy_chats(services, request)
    done = {skip}
    for index, message_id in enumerate(ids):
        if not message_id or message_id in done:
            continue
        done.add(message_id)
        chat = chats[index] if index < len(chats) else None
        card = cards.own if index == 0 else cards.shared
        try:
            ids[index] = await services.feishu.patch_card(message_id, card, resend_to=chat)
        except Exception:
            log.exception("could not update a copy of a verification card")
    if extra and extra not in done:
        try:
            await services.feishu.patch_card(extra, cards.shared)
        except Exception:
            log.exception("could not update a copy of a verification card")
    if ids == list(request.message_ids):
        return request
    await Verifications(services.store).set_messages(request.id, ids)
    return replace(request, message_ids=tuple(ids))


def _copy_chats(services: Services, request: VerificationRequest) -> list[str | None]:
    """The chat each of request.message_ids is in: the asker's copy first (ask/submit), then the managers' copy, if
    one was posted there."""
    manager_chat = services.settings_of(FourFactorsSettings).hrbot_manager_chat_id
    return [request.chat_id, manager_chat or None]
