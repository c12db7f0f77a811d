"""个人社保 end to end: city → form → (SMS | captcha) → result, failures, privacy, stale clicks, expiry."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import respx
from httpx import Response
from sqlalchemy import create_engine, select, text

from bot.providers.base import ProviderError
from bot.providers.tcredit import TaskState, TcreditClient, client, token_key
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR_GROUP
from bot.sandbox.feishu import SandboxMessage
from bot.sandbox.tcredit import IMAGE_CODE, WRONG_CODE_MSG
from bot.state.store import metadata, scheduler_url
from cards.text import card_text
from handlers.personal_social.router import poll_flows
from handlers.personal_social.state import Flows
from tests import feishu_wire as wire
from tests.conftest import RunningBot, eventually, wait_for

PASSWORD = "S3cret-pass!"
ID_NUMBER = "11010519811231002X"
CAPTCHA = IMAGE_CODE


def value_of(card: dict, tag: str, contains: str = "") -> dict:
    """The callback value of the first element with `tag` (and text containing `contains`)."""
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            text = json.dumps(node.get("text") or node.get("placeholder") or {}, ensure_ascii=False)
            if node.get("tag") == tag and contains in text and node.get("behaviors"):
                found.append(node["behaviors"][0]["value"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(card)
    assert found, f"no {tag} {contains!r} on the card"
    return found[0]


async def start(bot: RunningBot, text: str = "个人社保", user: str = EMPLOYEE) -> SandboxMessage:
    """The dialog's card, once the dialog records it (just after sending it): later steps find the card by it."""
    card = (await bot.replies(await bot.say(text, user=user)))[0]
    flows = Flows(bot.app.services.store)

    async def recorded() -> bool:
        flow = await flows.get(user)
        return flow is not None and flow.message_id == card.message_id

    await eventually(recorded, what="the dialog records its card")
    return card


async def choose(bot: RunningBot, card: SandboxMessage, area_code: str) -> None:
    answer = await bot.feishu.user_clicks(
        card.message_id,
        user=EMPLOYEE,
        value=value_of(card.content, "select_static", "城市"),
        option=area_code,
        tag="select_static",
    )
    assert "card" in answer, answer


async def submit(bot: RunningBot, card: SandboxMessage, form: dict) -> dict:
    return await bot.feishu.user_clicks(
        card.message_id, user=EMPLOYEE, value=value_of(card.content, "button", "登录查询"), form_value=form
    )


async def enter_code(bot: RunningBot, card: SandboxMessage, code: str) -> dict:
    return await bot.feishu.user_clicks(
        card.message_id,
        user=EMPLOYEE,
        value=value_of(card.content, "button", "提交验证码"),
        form_value={"code": code},
    )


async def poll_until(bot: RunningBot, card: SandboxMessage, text: str, within: float = 10.0) -> str:
    """Poll Tcredit as the scheduler does until the card shows `text` (a card update Feishu paces lands later)."""

    async def shown() -> str:
        await poll_flows(bot.app.services)
        content = card_text(card.content)
        return content if text in content else ""

    try:
        return await eventually(shown, within, what=repr(text))
    except AssertionError:
        raise AssertionError(f"{text!r} never appeared: {card_text(card.content)}") from None


async def test_success_through_city_form_and_progress_to_result(bot: RunningBot) -> None:
    card = await start(bot)
    text = card_text(card.content)
    assert "北京" in text and "浙江省直" in text and "杭州（系统维护）" in text and "深圳（开发中）" in text
    await choose(bot, card, "110000")
    text = card_text(card.content)
    assert "北京" in text and "<用户名 *>" in text and "<用户密码 *>" in text and "[登录查询]" in text
    await submit(bot, card, {"account": "zhangsan", "password": PASSWORD})
    assert "登录中" in card_text(card.content)
    text = await poll_until(bot, card, "查询完成")
    # Their own record in their private chat: their name as it is; the ID number masked.
    assert "**姓名**：张小明" in text and "110***********002X" in text and ID_NUMBER not in text
    assert "**单位**：星河科技有限公司" in text, (
        "the employer of 增减员 and the directory: one sandbox company"
    )
    assert "***********6789" in text  # social security number: last four
    for section in ("养老保险", "医疗保险", "生育保险", "工伤保险", "失业保险"):
        assert f"{section}** · 22 个月" in text
    # Paid every month up to last month (he is employed in 增减员's sandbox too): up to date.
    today = datetime.now(ZoneInfo("Asia/Shanghai"))
    last_month = f"{(today.replace(day=1) - timedelta(days=1)):%Y-%m}"
    assert last_month in text and "单位合计" in text
    assert f"**已缴至 {last_month}**。该月合计 5,517.08 元" in text
    assert bot.sandbox.tcredit.created_tasks == 1


async def test_sms_step(bot: RunningBot) -> None:
    card = await start(bot, "个人社保 北京")  # the city given inline skips the picker
    assert "<用户名 *>" in card_text(card.content)
    await submit(bot, card, {"account": "sms", "password": PASSWORD})
    text = await poll_until(bot, card, "短信验证码")
    assert "[提交验证码]" in text
    await enter_code(bot, card, "123456")
    await poll_until(bot, card, "查询完成")


async def test_image_captcha_is_uploaded_and_shown(bot: RunningBot) -> None:
    bot.sandbox.tcredit.code_tries = 2  # a site that asks again after a wrong code (the task goes on)
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "captcha", "password": PASSWORD})
    text = await poll_until(bot, card, "图片中的验证码")
    image = next(e for e in card.content["body"]["elements"] if e.get("tag") == "img")
    assert bot.feishu.images[image["img_key"]].startswith(b"\x89PNG\r\n\x1a\n")
    await enter_code(bot, card, "0000")
    # A wrong code while the task still waits: the same login goes on, the person types the code again.
    text = await poll_until(bot, card, WRONG_CODE_MSG)
    assert "图片中的验证码" in text and "[提交验证码]" in text and "查询失败" not in text
    await enter_code(bot, card, IMAGE_CODE)
    await poll_until(bot, card, "查询完成")
    assert bot.sandbox.tcredit.created_tasks == 1


async def test_a_code_entered_while_a_poll_waits_for_tcredit_is_not_lost_on_a_site_that_asks_again(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled poll read the flow (waiting for the code), then the person entered a wrong code, then Tcredit
    answered the poll with the code being checked (10001): the poll reads that against the flow as it now is."""
    bot.sandbox.tcredit.code_tries = 2
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "captcha", "password": PASSWORD})
    await poll_until(bot, card, "图片中的验证码")
    tcredit = client(bot.app.services)
    ask_tcredit = tcredit.task_state
    entered: list[dict] = []

    async def code_entered_meanwhile(tid: str) -> TaskState:
        if not entered:
            entered.append(await enter_code(bot, card, "0000"))
        return await ask_tcredit(tid)

    monkeypatch.setattr(tcredit, "task_state", code_entered_meanwhile)
    await poll_flows(bot.app.services)
    monkeypatch.setattr(tcredit, "task_state", ask_tcredit)
    text = await poll_until(bot, card, WRONG_CODE_MSG)
    assert "图片中的验证码" in text and "[提交验证码]" in text


async def test_a_wrong_code_ends_the_login_as_tcredit_documents_and_restart_opens_the_same_citys_form(
    bot: RunningBot,
) -> None:
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "sms", "password": PASSWORD})
    await poll_until(bot, card, "短信验证码")
    await enter_code(bot, card, "000000")
    text = await poll_until(bot, card, "查询失败")
    assert "验证码不正确" in text and text.count("不收费") == 1 and "[重新开始]" in text

    restarted = await bot.feishu.user_clicks(
        card.message_id, user=EMPLOYEE, value=value_of(card.content, "button", "重新开始")
    )
    again = card_text(restarted["card"]["data"])
    assert "北京" in again and "用户名" in again and "选择城市" not in again, again
    assert bot.sandbox.tcredit.created_tasks == 1, "nothing billed again until the form is submitted"


async def test_a_site_that_asks_again_takes_codes_until_its_last_try_then_fails_once(bot: RunningBot) -> None:
    bot.sandbox.tcredit.code_tries = 3
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "sms", "password": PASSWORD})
    await poll_until(bot, card, "短信验证码")
    for attempt in range(3):
        if attempt:
            await poll_until(bot, card, WRONG_CODE_MSG)
        await enter_code(bot, card, "000000")
    text = await poll_until(bot, card, "查询失败")
    assert "验证码不正确" in text and text.count("不收费") == 1 and "[重新开始]" in text


async def polled_while_the_answer_travels(bot: RunningBot, click: Awaitable[dict], polls: int) -> dict:
    """`click`, with the bot's scheduled poll landing `polls` times after the bot answered it and before Feishu
    applied the answer (the poll runs every 2 s on its own, so on a busy machine it does; that one's update may
    still be on its way when the click returns)."""

    async def poll() -> None:
        for _ in range(polls):
            await poll_flows(bot.app.services)

    bot.feishu.while_answer_travels = poll
    try:
        return await click
    finally:
        bot.feishu.while_answer_travels = None


async def test_a_code_refused_before_the_clicks_answer_lands_still_shows_the_failure(bot: RunningBot) -> None:
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "sms", "password": PASSWORD})
    await poll_until(bot, card, "短信验证码")
    await polled_while_the_answer_travels(bot, enter_code(bot, card, "000000"), polls=1)
    # Polling more cannot mend a card the answer overwrote: the flow has ended.
    assert "验证码不正确" in await poll_until(bot, card, "查询失败")


async def test_a_login_refused_before_the_clicks_answer_lands_still_shows_the_failure(
    bot: RunningBot,
) -> None:
    card = await start(bot, "个人社保 北京")
    await polled_while_the_answer_travels(
        bot, submit(bot, card, {"account": "wrongpass", "password": PASSWORD}), polls=2
    )
    assert "用户名或密码错误" in await poll_until(bot, card, "查询失败")


async def test_wrong_password_and_partial_data(bot: RunningBot) -> None:
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "wrongpass", "password": PASSWORD})
    text = await poll_until(bot, card, "查询失败")
    assert "用户名或密码错误" in text and "不收费" in text

    restarted = await bot.feishu.user_clicks(
        card.message_id, user=EMPLOYEE, value=value_of(card.content, "button", "重新开始")
    )
    # The same city's form again: only the login was wrong.
    assert "**北京** · 请填写社保网站的登录信息" in card_text(restarted["card"]["data"])
    await submit(bot, card, {"account": "partial", "password": PASSWORD})
    text = await poll_until(bot, card, "查询完成")
    assert "部分数据缺失：医疗保险" in text and "医疗保险** ·" not in text


async def test_sms_timeout_explains_itself(bot: RunningBot, clock) -> None:
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "sms", "password": PASSWORD})
    await poll_until(bot, card, "短信验证码")
    clock.advance(timedelta(minutes=3))
    text = await poll_until(bot, card, "查询失败")
    assert "等待输入验证码超时" in text and "[重新开始]" in text


async def test_select_params_required_fields_and_id_checksum(bot: RunningBot) -> None:
    card = await start(bot, "个人社保 上海")
    assert "黄浦区 / 徐汇区 / 浦东新区" in card_text(card.content)
    answer = await submit(bot, card, {"account": "zhangsan"})
    assert "请填写：用户密码、参保区县" in answer["toast"]["content"]
    method = value_of(card.content, "select_static", "登录方式")
    await bot.feishu.user_clicks(
        card.message_id, user=EMPLOYEE, value=method, option="2", tag="select_static"
    )
    assert "<身份证号 *>" in card_text(card.content)
    answer = await submit(
        bot, card, {"id_card": "110105194912310021", "password": PASSWORD, "sub_area": "310104"}
    )
    assert "身份证号码校验不通过" in answer["toast"]["content"]
    assert bot.sandbox.tcredit.created_tasks == 0


async def test_double_submit_creates_one_task(bot: RunningBot) -> None:
    card = await start(bot, "个人社保 北京")
    value = value_of(card.content, "button", "登录查询")
    first = await bot.click(
        card, user=EMPLOYEE, value=value, form_value={"account": "x", "password": PASSWORD}
    )
    second = await bot.click(
        card, user=EMPLOYEE, value=value, form_value={"account": "x", "password": PASSWORD}
    )
    assert "card" not in first and "登录中" in card_text(
        card.content
    )  # shown by an update, as the poll's steps
    assert second["toast"]["content"] == "这一步已经处理过了"
    assert bot.sandbox.tcredit.created_tasks == 1


async def test_asked_in_a_group_the_dialog_moves_to_private(bot: RunningBot) -> None:
    mentions = [wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")]
    asked = await bot.say(
        "@_user_1 个人社保", user=EMPLOYEE, chat_id=HR_GROUP, chat_type="group", mentions=mentions
    )
    assert "已私聊你" in await bot.reply_text(asked)
    private = await wait_for(lambda: bot.feishu.bot_messages(bot.feishu.directory.p2p_chat_of(EMPLOYEE)), 1)
    assert "选择城市" in card_text(private[0].content)


async def test_abandoned_flows_expire_and_a_new_one_cancels_the_old(bot: RunningBot, clock) -> None:
    old = await start(bot)
    new = await start(bot)
    assert "已取消" in card_text(old.content)
    clock.advance(timedelta(minutes=31))
    await poll_flows(bot.app.services)
    assert "已超时失效" in card_text(new.content) and "[重新开始]" in card_text(new.content)


async def test_password_and_captcha_answers_are_never_kept(bot: RunningBot, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "captcha", "password": PASSWORD})
    await poll_until(bot, card, "图片中的验证码")
    await enter_code(bot, card, CAPTCHA)
    await poll_until(bot, card, "查询完成")
    leaked = [
        r.getMessage() for r in caplog.records if PASSWORD in r.getMessage() or CAPTCHA in r.getMessage()
    ]
    assert leaked == []
    cards = json.dumps(
        [m.content for m in bot.feishu.messages.values() if m.msg_type == "interactive"], ensure_ascii=False
    )
    assert PASSWORD not in cards and CAPTCHA not in cards
    async with bot.app.services.store.engine.connect() as conn:
        dump = "\n".join([str((await conn.execute(select(table))).all()) for table in metadata.sorted_tables])
    jobs_engine = create_engine(scheduler_url(bot.app.settings.hrbot_database_url))
    with jobs_engine.connect() as conn:
        dump += str(conn.execute(text("SELECT * FROM scheduler_jobs")).all())
    jobs_engine.dispose()
    assert "dialogs" in metadata.tables and "done" in dump
    assert PASSWORD not in dump and CAPTCHA not in dump


def test_token_key_matches_an_independent_computation() -> None:
    url = "http://api.tcredit.com/identity/createInsuranceSearchTaskB"
    params = {"login_type": "1", "area_code": "110000", "account": "zhangsan", "password": "p"}
    expected = hashlib.md5(
        (url + "token-123" + "account=zhangsan,area_code=110000,login_type=1,password=p").encode()
    ).hexdigest()
    assert token_key(url, "token-123", params) == expected
    assert (
        token_key("http://api.tcredit.com/identity/getInsuranceCitysB", "t", {})
        == hashlib.md5(b"http://api.tcredit.com/identity/getInsuranceCitysBt").hexdigest()
    )


@respx.mock
async def test_status_codes_and_a_lost_answer_are_not_retried() -> None:
    client = TcreditClient(base_url="http://tcredit.test", app_id="a", token_id="t")
    respx.post("http://tcredit.test/identity/getInsuranceCitysB").mock(
        return_value=Response(200, json={"status": 9, "message": "用户余额不足"})
    )
    with pytest.raises(ProviderError) as raised:
        await client.cities()
    assert "余额不足" in raised.value.user_message and "充值" in raised.value.user_message
    create = respx.post("http://tcredit.test/identity/createInsuranceSearchTaskB").mock(
        side_effect=TimeoutError
    )
    create.side_effect = __import__("httpx").ReadTimeout("slow")
    with pytest.raises(ProviderError) as raised:
        await client.create_task("110000", "1", {"account": "a", "password": PASSWORD})
    assert create.call_count == 1 and "结果未知" in raised.value.user_message
    assert PASSWORD not in str(raised.value) and PASSWORD not in raised.value.user_message
    await client.aclose()


async def test_the_consoles_fast_forward_keeps_the_dialog_and_its_sms_step(bot: RunningBot) -> None:
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "sms", "password": PASSWORD})
    bot.sandbox.fast_forward(timedelta(minutes=10))  # what the console's ⏩ does before running pollers
    text = await poll_until(bot, card, "短信验证码")
    assert "已超时失效" not in text and "查询完成" not in text
