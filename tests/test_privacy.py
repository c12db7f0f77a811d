"""Personal information (PIPL) through the ingress: consent before a provider sees anything, the access audit, 我的数据 /
删除我的数据, withdrawing and cancelling, people who leave, and every retention purge."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from bot.clock import Clock
from bot.lifecycle.maintenance import purge_audit, purge_cache, purge_old_dialogs
from bot.sandbox.directory import EMPLOYEE, HR, HR_GROUP, MANAGER, MANAGER_GROUP
from bot.sandbox.feishu import SandboxMessage
from bot.state.dialogs import Dialogs
from bot.state.redis_state import PREFIX
from bot.trust.audit import recent, viewed
from bot.trust.consent import Consents
from cards.text import card_text
from handlers.four_factors.router import NOTICE as JUHE_NOTICE
from handlers.four_factors.router import purge_closed
from handlers.four_factors.state import Verifications, four_factors_requests
from handlers.micro_ent.router import purge_delivered
from handlers.micro_ent.state import MicroJobs, micro_ent_jobs, micro_ent_watchers
from handlers.personal_social.router import NOTICE as TCREDIT_NOTICE
from handlers.personal_social.router import poll_flows
from handlers.personal_social.state import CANCELLED, Flows
from tests import feishu_wire as wire
from tests.conftest import RunningBot, card_buttons, eventually, make_settings, running_bot, wait_for
from tests.test_four_factors import (
    COMPANY,
    ID_NUMBER,
    INLINE,
    MASKED_ID,
    NAME,
    USCC,
    button_value,
    juhe,
    press,
    request_inline,
)
from tests.test_personal_social import PASSWORD, choose, submit

AGREED = "请选择你参保的城市"


async def card_of(bot: RunningBot, text: str, user: str = EMPLOYEE, **kw: object) -> SandboxMessage:
    return (await bot.replies(await bot.say(text, user=user, **kw)))[0]


async def click(bot: RunningBot, message: SandboxMessage, label: str, user: str = EMPLOYEE) -> dict:
    return await bot.feishu.user_clicks(
        message.message_id, user=user, value=card_buttons(message.content)[label]
    )


# Consent -------------------------------------------------------------------------------------------------------------
async def test_personal_social_asks_first_sends_nothing_until_agreed_and_stops_when_withdrawn(
    settings, clock
) -> None:
    async with running_bot(settings, clock, consented=False) as bot:
        tcredit = bot.sandbox.tcredit
        notice = await card_of(bot, "个人社保")
        text = card_text(notice.content)
        assert "个人信息使用告知 · 个人社保" in text and "天创（Tcredit）" in text and "登录密码" in text
        assert "[同意]" in text and "[不同意]" in text
        await bot.idle()
        assert tcredit.requests == 0  # not even the city list

        await click(bot, notice, "同意")
        assert AGREED in card_text(notice.content)
        assert await Consents(bot.app.services.store).agreed(EMPLOYEE, TCREDIT_NOTICE)
        await eventually(
            lambda: _recorded(bot, notice), what="the dialog follows the card that was the notice"
        )
        await choose(bot, notice, "110000")
        await submit(bot, notice, {"account": "zhangsan", "password": PASSWORD})
        assert tcredit.created_tasks == 1

        withdrawn = await bot.reply_text(await bot.say("撤回同意"))
        assert "已撤回同意" in withdrawn and "个人社保（天创（Tcredit））" in withdrawn
        before = tcredit.requests
        again = await card_of(bot, "个人社保 北京")
        assert "个人信息使用告知" in card_text(again.content)
        await bot.idle()
        assert tcredit.requests == before and tcredit.created_tasks == 1


async def test_a_task_running_when_consent_is_withdrawn_is_not_polled_again(settings, clock) -> None:
    """The poll round would ask Tcredit for the task's state every few seconds until the flow ended: after 撤回同意
    it ends the flow instead, and the card says why."""
    async with running_bot(settings, clock, consented=False) as bot:
        notice = await card_of(bot, "个人社保")
        await click(bot, notice, "同意")
        await eventually(
            lambda: _recorded(bot, notice), what="the dialog follows the card that was the notice"
        )
        await choose(bot, notice, "110000")
        await submit(bot, notice, {"account": "zhangsan", "password": PASSWORD})
        await bot.idle()
        await bot.reply_text(await bot.say("撤回同意"))
        tcredit = bot.sandbox.tcredit
        before = tcredit.requests
        await poll_flows(bot.app.services)  # a round due just after the withdrawal
        await bot.idle()
        assert tcredit.requests == before
        flow = await Flows(bot.app.services.store).get(EMPLOYEE)
        assert flow is not None and flow.state == CANCELLED
        assert "这次查询已取消：你已撤回同意" in card_text(notice.content)


async def _recorded(bot: RunningBot, card: SandboxMessage) -> bool:
    flow = await Flows(bot.app.services.store).get(EMPLOYEE)
    return flow is not None and flow.message_id == card.message_id


async def test_withdrawing_mid_dialog_stops_the_login_and_refusing_sends_nothing(settings, clock) -> None:
    async with running_bot(settings, clock, consented=False) as bot:
        refused = await card_of(bot, "个人社保")
        await click(bot, refused, "不同意")
        assert "未同意 · 个人社保" in card_text(refused.content) and "没有向天创" in card_text(
            refused.content
        )
        assert await Consents(bot.app.services.store).of(EMPLOYEE) == []

        card = await card_of(bot, "个人社保 北京")
        await click(bot, card, "同意")
        await eventually(lambda: _recorded(bot, card), what="dialog recorded")
        assert "<用户名 *>" in card_text(card.content)  # the city typed with the command was kept
        await bot.reply_text(await bot.say("撤回同意"))
        await submit(bot, card, {"account": "zhangsan", "password": PASSWORD})
        assert "未同意 · 个人社保" in card_text(card.content)
        assert bot.sandbox.tcredit.created_tasks == 0


async def test_cancel_ends_the_dialog(bot: RunningBot) -> None:
    card = await card_of(bot, "个人社保")
    await eventually(lambda: _recorded(bot, card), what="dialog recorded")
    await click(bot, card, "取消查询")
    assert "你取消了这次查询" in card_text(card.content)
    flow = await Flows(bot.app.services.store).get(EMPLOYEE)
    assert flow is not None and flow.state == "cancelled"


async def test_four_factors_asks_before_a_request_is_stored(settings, clock) -> None:
    async with running_bot(settings, clock, consented=False) as bot:
        notice = await card_of(bot, INLINE)
        assert "个人信息使用告知 · 企业核验" in card_text(notice.content)
        assert "聚合数据（Juhe）" in card_text(notice.content)
        await bot.idle()
        assert await Verifications(bot.app.services.store).of_requester(EMPLOYEE) == []
        assert bot.feishu.bot_messages(MANAGER_GROUP) == []
        answer = await click(bot, notice, "同意")
        # 同意 goes on with what was typed: the notice becomes the request, nothing to type again.
        assert answer["toast"]["content"] == "已同意并提交，等待管理员核验"
        assert "企业核验申请" in card_text(notice.content) and MASKED_ID in card_text(notice.content)
        assert "申请人：张小明" in card_text(notice.content)  # the requester's private chat: their own name
        assert await Consents(bot.app.services.store).agreed(EMPLOYEE, JUHE_NOTICE)
        [request] = await Verifications(bot.app.services.store).of_requester(EMPLOYEE)
        assert request.message_ids and notice.message_id in request.message_ids
        await wait_for(lambda: bot.feishu.bot_messages(MANAGER_GROUP))
        again = await click(bot, notice, "同意") if "同意" in card_buttons(notice.content) else None
        assert again is None, "the notice is gone: no second request from it"

        # Without anything typed, 同意 opens the form.
        bare = await card_of(bot, "企业核验", user=HR)
        await click(bot, bare, "同意", user=HR)
        assert "[提交核验申请]" in card_text(bare.content)


async def test_a_bystanders_agree_in_a_group_leaves_the_requesters_notice_as_it_was(settings, clock) -> None:
    """HR asks in the managers' group; a manager's 同意 must neither record the manager's consent nor replace the
    shared notice (the typed request would be lost): only HR's 同意 goes on with what HR typed."""
    async with running_bot(settings, clock, consented=False) as bot:
        notice = await card_of(
            bot, f"@_user_1 {INLINE}", user=HR, chat_id=MANAGER_GROUP, chat_type="group", mentions=[_bot()]
        )
        shown = json.dumps(notice.content, ensure_ascii=False)
        answer = await click(bot, notice, "同意", user=MANAGER)
        assert answer["toast"]["content"] == "只有申请人可以同意" and "card" not in answer
        await bot.idle()
        assert json.dumps(notice.content, ensure_ascii=False) == shown
        assert await Consents(bot.app.services.store).of(MANAGER) == []

        answer = await click(bot, notice, "同意", user=HR)
        assert answer["toast"]["content"] == "已同意并提交，等待管理员核验"
        assert "企业核验申请" in card_text(notice.content) and MASKED_ID in card_text(notice.content)
        [request] = await Verifications(bot.app.services.store).of_requester(HR)
        assert (request.entname, request.realname, request.idcard) == (COMPANY, NAME, ID_NUMBER)
        assert bot.feishu.directory.person(HR).name not in card_text(notice.content)  # a group: masked
        # Nor can anyone agree in the requester's place on a notice that carries nothing typed.
        bare = await card_of(
            bot,
            "@_user_1 企业核验",
            user=EMPLOYEE,
            chat_id=MANAGER_GROUP,
            chat_type="group",
            mentions=[_bot()],
        )
        answer = await click(bot, bare, "同意", user=MANAGER)
        assert answer["toast"]["content"] == "只有申请人可以同意"
        assert "个人信息使用告知" in card_text(bare.content)
        assert await Consents(bot.app.services.store).of(MANAGER) == []


async def test_the_notice_holds_what_was_typed_sealed_for_the_requester_this_chat_and_a_week(
    settings, clock
) -> None:
    """Nothing typed is readable on the notice while nobody clicks; the sealed text opens only for the requester in
    the chat it was typed in (not on a forwarded copy), and not after the week an undecided request is kept."""
    async with running_bot(settings, clock, consented=False) as bot:
        notice = await card_of(bot, INLINE)
        shown = json.dumps(notice.content, ensure_ascii=False)
        for typed in (ID_NUMBER, ID_NUMBER[:6], ID_NUMBER[-4:], NAME, USCC, COMPANY):
            assert typed not in shown
        # The same card in another chat (forwarded): its 同意 records the consent but brings nothing along.
        forwarded = bot.feishu.messages[await bot.app.services.feishu.send_card(HR_GROUP, notice.content)]
        answer = await click(bot, forwarded, "同意")
        assert answer["toast"]["content"] == "已同意；之前输入的信息无法带入，请重新填写"
        assert "[提交核验申请]" in card_text(forwarded.content)
        assert await Verifications(bot.app.services.store).of_requester(EMPLOYEE) == []

        later = await card_of(bot, "撤回同意")
        assert "已撤回同意" in card_text(later.content)
        stale = await card_of(bot, INLINE)
        clock.advance(timedelta(days=7, minutes=1))
        answer = await click(bot, stale, "同意")
        assert answer["toast"]["content"] == "已同意；之前输入的信息已超过 7 天，不再保留，请重新填写"
        assert "[提交核验申请]" in card_text(stale.content)
        assert await Verifications(bot.app.services.store).of_requester(EMPLOYEE) == []


async def test_the_requester_withdraws_a_request_and_its_id_number_is_erased(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot)
    stale = button_value(in_managers, "撤回申请")
    answer = await press(bot, in_managers, user=MANAGER, value=stale)
    assert answer["toast"]["content"] == "只有申请人可以撤回这条申请"
    answer = await press(bot, in_chat, user=EMPLOYEE, value=button_value(in_chat, "撤回申请"))
    assert answer["toast"]["content"] == "已撤回，证件信息已删除"
    [request] = await Verifications(bot.app.services.store).of_requester(EMPLOYEE)
    assert request.status == "withdrawn" and request.idcard is None and request.realname is None
    await wait_for(lambda: [m for m in (in_chat, in_managers) if "已撤回" in card_text(m.content)], 2)
    assert MASKED_ID in card_text(in_managers.content)
    late = await press(bot, in_chat, user=EMPLOYEE, value=stale)
    assert late["toast"]["content"] == "这条申请已被申请人撤回"
    assert juhe(bot).calls == []


# Access audit ------------------------------------------------------------------------------------------------------
async def test_hr_reading_a_colleague_writes_one_audit_row_and_own_records_none(bot: RunningBot) -> None:
    store = bot.app.services.store
    await bot.reply_text(await bot.say("增减员", user=HR))
    assert (await recent(store))[1] == 0
    mentions = [wire.mention("@_user_1", EMPLOYEE, "张小明")]
    await bot.reply_text(await bot.say("增减员 @_user_1", user=HR, mentions=mentions))
    await bot.idle()
    rows, total = await recent(store)
    assert total == 1
    [row] = rows
    assert (row.actor, row.subject_id, row.kind, row.place) == (HR, EMPLOYEE, "增减员记录", "私聊")


async def test_a_digest_to_a_chat_is_one_row_with_its_head_count(bot: RunningBot) -> None:
    await card_of(bot, "@_user_1 增减员摘要", user=HR, chat_id=HR_GROUP, chat_type="group", mentions=[_bot()])
    await bot.idle()
    rows, total = await recent(bot.app.services.store)
    assert total == 1
    assert (
        rows[0].kind == "增减员摘要" and rows[0].place == HR_GROUP and rows[0].people and rows[0].people > 1
    )
    assert rows[0].subject_id is None


def _bot() -> dict:
    from bot.sandbox.directory import BOT_OPEN_ID

    return wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")


async def test_audit_is_for_admins_filters_by_person_or_day_and_exports(
    bot: RunningBot, clock: Clock
) -> None:
    mentions = [wire.mention("@_user_1", EMPLOYEE, "张小明")]
    await bot.reply_text(await bot.say("增减员 @_user_1", user=HR, mentions=mentions))
    await bot.idle()
    refused = await bot.reply_text(await bot.say("审计", user=EMPLOYEE))
    assert "只有管理员可以查看访问审计记录" in refused

    shown = await card_of(bot, "审计 @_user_1", user=MANAGER, mentions=mentions)
    text = card_text(shown.content)
    assert "共 1 条" in text and "增减员记录" in text
    assert f"张小明（{EMPLOYEE}）" in text and f"李思（{HR}）" in text
    today = clock.now().astimezone(bot.app.services.settings.tz)
    assert "共 1 条" in await bot.reply_text(await bot.say(f"审计 {today:%Y-%m-%d}", user=MANAGER))
    assert "共 0 条" in await bot.reply_text(await bot.say("审计 2020-01-01", user=MANAGER))
    assert "请 @某人，或写日期" in await bot.reply_text(await bot.say("审计 昨天", user=MANAGER))
    assert "没有这一天" in await bot.reply_text(await bot.say("审计 2026-02-30", user=MANAGER))

    answer = await click(bot, shown, "导出", user=MANAGER)
    assert "正在导出" in answer["toast"]["content"]
    chat = bot.feishu.directory.p2p_chat_of(MANAGER)
    [file] = await wait_for(lambda: [m for m in bot.feishu.bot_messages(chat) if m.msg_type == "file"])
    sheet = load_workbook(io.BytesIO(bot.feishu.files[file.content["file_key"]][1])).active
    assert [c.value for c in sheet[2]][1:6] == ["李思", HR, "张小明", EMPLOYEE, "增减员记录"]
    await eventually(lambda: _has_kind(bot, "审计导出"), what="the export is itself an audit row")


async def _has_kind(bot: RunningBot, kind: str) -> bool:
    rows, _ = await recent(bot.app.services.store, limit=None)
    return any(r.kind == kind for r in rows)


# 我的数据 / 删除我的数据 / leaving -----------------------------------------------------------------------------------------
async def _leave_traces(bot: RunningBot) -> SandboxMessage:
    """张小明 has: consents, a 个人社保 dialog, a 企业核验 request, a 小微企业 query, and HR has read his records."""
    dialog = await card_of(bot, "个人社保")
    await eventually(lambda: _recorded(bot, dialog), what="dialog recorded")
    await request_inline(bot)
    await card_of(bot, "小微企业 成都成电光信科技股份有限公司")
    mentions = [wire.mention("@_user_1", EMPLOYEE, "张小明")]
    await bot.reply_text(await bot.say("增减员 @_user_1", user=HR, mentions=mentions))
    await bot.idle()
    return dialog


async def test_my_data_lists_what_the_bot_holds_and_deleting_removes_it(bot: RunningBot) -> None:
    dialog = await _leave_traces(bot)
    text = await bot.reply_text(await bot.say("我的数据"))
    for expected in (
        "个人社保 · 发送给天创（Tcredit） · 告知版本 1",
        "企业核验 · 发送给聚合数据（Juhe）",
        "个人社保查询对话：未选城市 · 选择城市",
        f"企业核验申请：小米科技有限责任公司 · 雷* {MASKED_ID} · 待核验",
        "小微企业查询：成都成电光信科技股份有限公司 · 查询中",
        "你的信息被查看的记录**：共 1 条",
        "增减员记录 · 私聊",
        "收费查询记录",
    ):
        assert expected in text, expected
    assert "11010119691202123X" not in text and "雷军" not in text

    confirm = await card_of(bot, "删除我的数据")
    assert "将删除" in card_text(confirm.content) and "访问审计记录 1 条" in card_text(confirm.content)
    await click(bot, confirm, "确认删除")
    done = card_text(confirm.content)
    assert "已删除你的数据" in done and "企业核验申请 1 条" in done and "小微企业查询 1 条" in done
    assert "个人社保查询对话" in done and "同意记录" in done
    assert "这次查询已取消：相关个人数据已删除" in card_text(dialog.content)

    store = bot.app.services.store
    assert await Flows(store).get(EMPLOYEE) is None
    assert await Verifications(store).of_requester(EMPLOYEE) == []
    assert await Consents(store).of(EMPLOYEE) == []
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(micro_ent_watchers))).all() == []
    assert (await recent(store, subject=EMPLOYEE))[1] == 1  # the audit stays
    after = await bot.reply_text(await bot.say("我的数据"))
    assert "没有同意记录" in after and "没有保存的查询、申请或对话" in after


async def test_cancelling_the_deletion_deletes_nothing(bot: RunningBot) -> None:
    await _leave_traces(bot)
    confirm = await card_of(bot, "删除我的数据")
    await click(bot, confirm, "取消")
    assert "没有删除任何数据" in card_text(confirm.content)
    assert await Flows(bot.app.services.store).get(EMPLOYEE) is not None


async def test_a_person_who_leaves_is_forgotten_and_their_open_cards_close(bot: RunningBot) -> None:
    dialog = await _leave_traces(bot)
    [in_managers] = [
        m for m in bot.feishu.bot_messages(MANAGER_GROUP) if "企业核验申请" in card_text(m.content)
    ]
    response = await bot.post_event(
        "contact.user.deleted_v3", {"object": {"open_id": EMPLOYEE, "name": "张小明"}}
    )
    assert response.status_code == 200
    await bot.idle()
    store = bot.app.services.store
    await eventually(lambda: _gone(bot), what="the leaver's data deleted")
    assert "相关个人数据已删除" in card_text(dialog.content)
    assert "已撤回" in card_text(in_managers.content)
    assert await Consents(store).of(EMPLOYEE) == []
    assert await Consents(store).of(HR) != []  # nobody else's


async def _gone(bot: RunningBot) -> bool:
    store = bot.app.services.store
    return (
        await Flows(store).get(EMPLOYEE) is None and await Verifications(store).of_requester(EMPLOYEE) == []
    )


# Retention: each purge removes what is past its time and nothing else --------------------------------------------------
async def test_audit_and_withdrawn_consents_are_purged_after_the_retention(
    tmp_path: Path, clock: Clock
) -> None:
    settings = make_settings(tmp_path, hrbot_audit_retention_days=30)
    async with running_bot(settings, clock) as bot:
        services = bot.app.services
        await viewed(services.store, HR, [EMPLOYEE], "增减员记录", "私聊")
        consents = Consents(services.store)
        await consents.withdraw(EMPLOYEE)
        clock.advance(timedelta(days=20))
        await viewed(services.store, HR, [MANAGER], "增减员记录", "私聊")
        await consents.withdraw(MANAGER)
        clock.advance(timedelta(days=11))
        await purge_audit(services)
        rows, _total = await recent(services.store, limit=None)
        assert [row.subject_id for row in rows] == [MANAGER]
        assert await consents.of(EMPLOYEE) == []  # withdrawn 31 days ago
        assert len(await consents.of(MANAGER)) == 2  # withdrawn 11 days ago
        assert await consents.agreed(HR, TCREDIT_NOTICE)  # agreed long ago, never withdrawn: kept


async def test_dialogs_are_purged_after_their_last_step(tmp_path: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path, hrbot_dialog_retention_days=7)
    async with running_bot(settings, clock) as bot:
        store = bot.app.services.store
        dialogs = Dialogs(store, "personal_social")
        now = clock.now()
        await dialogs.start(EMPLOYEE, "oc_1", "done", now, now)
        clock.advance(timedelta(days=5))
        await dialogs.start(HR, "oc_2", "done", clock.now(), clock.now())
        clock.advance(timedelta(days=3))
        await purge_old_dialogs(bot.app.services)
        assert await dialogs.get(EMPLOYEE) is None
        assert await dialogs.get(HR) is not None


async def test_cached_answers_are_purged_past_their_time_in_the_database_or_redis(
    bot: RunningBot, clock
) -> None:
    store = bot.app.services.store
    await store.cache_set("short", {"v": 1}, timedelta(hours=1))
    await store.cache_set("long", {"v": 2}, timedelta(hours=48))
    clock.advance(timedelta(hours=2))
    await purge_cache(bot.app.services)
    assert await store.cache_get("short") is None
    assert await store.cache_get("long") == {"v": 2}
    if store.redis is not None:
        assert not await store.redis.redis.exists(f"{PREFIX}cache:short")
        assert await store.redis.redis.exists(f"{PREFIX}cache:long")
    else:
        from bot.state.store import cache_entries

        async with store.engine.connect() as conn:
            assert [r.key for r in await conn.execute(select(cache_entries.c.key))] == ["long"]


async def test_closed_verification_requests_are_purged_open_ones_are_not(bot: RunningBot, clock) -> None:
    services = bot.app.services
    store = Verifications(services.store)
    values = {"chat_id": "oc_1", "entname": "小米科技有限责任公司", "entmark": "91110108551385082Q"}
    old_closed = await store.create(
        requester=EMPLOYEE, realname="雷军", idcard="11010119691202123X", now=clock.now(), **values
    )
    await store.withdraw(old_closed.id)
    old_open = await store.create(
        requester=HR, realname="雷军", idcard="11010119691202123X", now=clock.now(), **values
    )
    clock.advance(timedelta(days=60))
    new_closed = await store.create(
        requester=HR, realname="雷军", idcard="11010119691202123X", now=clock.now(), **values
    )
    await store.withdraw(new_closed.id)
    clock.advance(timedelta(days=31))
    await purge_closed(services)
    async with services.store.engine.connect() as conn:
        left = {r.id for r in await conn.execute(select(four_factors_requests.c.id))}
    assert left == {old_open.id, new_closed.id}


async def test_delivered_micro_ent_results_are_purged_after_the_retention(bot: RunningBot, clock) -> None:
    services = bot.app.services
    assert services.scheduler is not None
    services.scheduler.pause()  # the poll round would tell the untold watcher meanwhile
    jobs = MicroJobs(services.store)
    now = clock.now()
    for jobid in ("delivered", "untold", "pending"):
        await jobs.create(jobid, f"公司{jobid}", now, now + timedelta(days=999))
    for jobid in ("delivered", "untold"):
        await jobs.finish(jobid, "done", now, result={"name": jobid})
    told = await jobs.add_watcher("delivered", EMPLOYEE, "oc_1", now)
    await jobs.mark_notified(told)
    await jobs.add_watcher("untold", EMPLOYEE, "oc_1", now)
    clock.advance(timedelta(days=20))
    await jobs.create("recent", "公司recent", clock.now(), clock.now() + timedelta(days=999))
    await jobs.finish("recent", "done", clock.now(), result={})
    clock.advance(timedelta(days=11))
    await purge_delivered(services)
    async with services.store.engine.connect() as conn:
        left = {r.jobid for r in await conn.execute(select(micro_ent_jobs.c.jobid))}
        watchers = [r.jobid for r in await conn.execute(select(micro_ent_watchers.c.jobid))]
    assert left == {"untold", "pending", "recent"}
    assert watchers == ["untold"]


async def test_a_manager_cannot_verify_once_the_requester_has_withdrawn_consent(bot: RunningBot) -> None:
    """The notice promises the ID number goes to Juhe when a manager verifies: after 撤回同意 it must not."""
    in_chat, in_managers = await request_inline(bot)
    await bot.reply_text(await bot.say("撤回同意"))
    answer = await press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "核验"))
    assert answer["toast"]["content"] == "申请人已撤回同意，这条申请已关闭，未发起查询"
    await bot.idle()
    assert juhe(bot).calls == []
    [request] = await Verifications(bot.app.services.store).of_requester(EMPLOYEE)
    assert request.status == "withdrawn" and request.idcard is None and request.realname is None
    await wait_for(lambda: [m for m in (in_chat, in_managers) if "已撤回" in card_text(m.content)], 2)


async def test_withdrawing_in_a_group_answers_privately(bot: RunningBot) -> None:
    """Which providers someone had agreed to says which features they used: not for the group to read."""
    in_group = await card_of(
        bot, "@_user_1 撤回同意", user=HR, chat_id=HR_GROUP, chat_type="group", mentions=[_bot()]
    )
    assert "我已私聊你" in card_text(in_group.content)
    assert "个人社保" not in card_text(in_group.content)
    chat = bot.feishu.directory.p2p_chat_of(HR)
    [private] = await wait_for(lambda: bot.feishu.bot_messages(chat))
    assert "个人社保（天创（Tcredit））" in card_text(private.content)
    assert not await Consents(bot.app.services.store).agreed(HR, TCREDIT_NOTICE)


async def test_my_data_states_the_configured_dialog_retention(tmp_path: Path, clock: Clock) -> None:
    async with running_bot(make_settings(tmp_path, hrbot_dialog_retention_days=3), clock) as bot:
        dialog = await card_of(bot, "个人社保")
        await eventually(lambda: _recorded(bot, dialog), what="dialog recorded")
        text = await bot.reply_text(await bot.say("我的数据"))
        assert "最后一步后保留 3 天" in text
