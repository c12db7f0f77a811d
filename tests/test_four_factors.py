"""企业核验: requests from chat or form, manager-only buttons, one billed call per decision, every copy updated.

Everything goes through /feishu/events (signed, encrypted) against the Feishu and Juhe emulators; clicks are
delivered by the Feishu emulator, which applies the answer's card to the message as Feishu does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from Crypto.Cipher import AES
from sqlalchemy import select

from bot.providers.juhe import JuheSettings, client, from_settings
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR, HR_GROUP, MANAGER, MANAGER_GROUP
from bot.sandbox.feishu import SandboxMessage
from bot.sandbox.juhe import (
    FOUR_FACTORS_ENCRYPTED_PATH,
    FOUR_FACTORS_PATH,
    FOUR_FACTORS_V2_PATH,
    JuheEmulator,
)
from bot.trust.masking import mask_name
from cards.text import card_text
from handlers.four_factors.router import expire_stale
from handlers.four_factors.state import four_factors_requests
from tests import feishu_wire as wire
from tests.conftest import RunningBot, eventually, make_settings, running_bot, wait_for

COMPANY = "小米科技有限责任公司"
USCC = "91110108551385082Q"
NAME = "雷军"
ID_NUMBER = "11010119691202123X"
MASKED_ID = "110***********123X"
INLINE = f"企业核验 {COMPANY} {USCC} {NAME} {ID_NUMBER}"
PATHS = (FOUR_FACTORS_PATH, FOUR_FACTORS_ENCRYPTED_PATH, FOUR_FACTORS_V2_PATH)
# AES-128-ECB of ID_NUMBER under md5("sandbox-openid")[:16], computed once outside the bot's code.
FIXED_CIPHERTEXT = "r9L/Uy3ReQfsRwYkpJkj+6yoMwUBIkDhC6DxUfkoZ/k="
FORM = {"entname": COMPANY, "entmark": USCC, "realname": NAME, "idcard": ID_NUMBER}


STARTED = "正在核验，完成后会更新卡片"
# Whether the loser's click arrived before or after the winner marked the request 核验中.
LOST = ("其他管理员正在处理这条申请", "这条申请正在核验中")


# Helpers -----------------------------------------------------------------------------------------------------------
def juhe(bot: RunningBot) -> JuheEmulator:
    return bot.sandbox.juhe


def billed(bot: RunningBot) -> int:
    return sum(juhe(bot).billed_calls[path] for path in PATHS)


def calls(bot: RunningBot) -> int:
    return sum(len(juhe(bot).calls_to(path)) for path in PATHS)


def title(message: SandboxMessage) -> str:
    return message.content["header"]["title"]["content"]


def button_value(message: SandboxMessage, text: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button" and node["text"]["content"] == text:
                found.append(node["behaviors"][0]["value"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(message.content)
    assert found, f"no {text} button on {title(message)}"
    return found[0]


async def press(
    bot: RunningBot,
    message: SandboxMessage,
    *,
    user: str,
    value: dict[str, Any],
    form_value: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A click delivered like Feishu does (signed, encrypted), its answer's card applied to the message."""
    return await bot.feishu.user_clicks(message.message_id, user=user, value=value, form_value=form_value)


async def request_inline(bot: RunningBot, user: str = EMPLOYEE, text: str = INLINE, **kw: Any):
    """The request card in the asker's chat and its copy in the managers' chat."""
    asked = await bot.say(text, user=user, **kw)
    in_chat = (await bot.replies(asked))[0]
    in_managers = (await wait_for(lambda: bot.feishu.bot_messages(MANAGER_GROUP)))[-1]
    # The request records both copies once both are sent: later steps (patching every copy) rely on it.
    copies = {in_chat.message_id, in_managers.message_id}

    async def recorded() -> bool:
        return any(set(r["message_ids"]) == copies for r in await rows(bot))

    await eventually(recorded, what="both copies recorded")
    return in_chat, in_managers


def one_winner(answers: list[dict[str, Any]]) -> bool:
    """One click started the verification; the other was told it is already being handled."""
    toasts = [a["toast"]["content"] for a in answers]
    return toasts.count(STARTED) == 1 and all(t in LOST for t in toasts if t != STARTED)


async def settled(bot: RunningBot, *copies: SandboxMessage, prefix: str) -> None:
    """Every copy's title starts with `prefix` (the card is patched after the click is answered)."""
    await wait_for(lambda: [c for c in copies if title(c).startswith(prefix)], len(copies), within=10)


async def rows(bot: RunningBot) -> list[dict[str, Any]]:
    async with bot.app.services.store.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(four_factors_requests))]


async def rows_with_messages(bot: RunningBot, count: int) -> list[dict[str, Any]]:
    """The request rows, once every one of them records `count` message ids; else empty."""
    found = await rows(bot)
    return found if found and all(len(r["message_ids"]) == count for r in found) else []


def no_full_id_anywhere(bot: RunningBot, *, cards_only: bool = False) -> None:
    for message in bot.feishu.messages.values():
        if cards_only and message.msg_type != "interactive":
            continue
        dumped = json.dumps(message.content, ensure_ascii=False)
        assert ID_NUMBER not in dumped and ID_NUMBER.lower() not in dumped, title(message)


# Asking ------------------------------------------------------------------------------------------------------------
async def test_request_card_is_masked_and_posted_in_both_chats(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot)
    assert in_chat.chat_id == bot.feishu.directory.p2p_chat_of(EMPLOYEE)
    assert in_managers.reply_to is None
    for copy in (in_chat, in_managers):
        text = card_text(copy.content)
        assert title(copy) == f"企业核验申请 · {COMPANY}"
        assert copy.content["header"]["template"] == "orange"
        assert MASKED_ID in text and "**法人/负责人**：雷*" in text and USCC in text
        assert "[核验]" in text and "[驳回]" in text
        assert NAME not in text and ID_NUMBER not in json.dumps(copy.content)
        assert set(button_value(copy, "核验")) == {"action", "request", "attempt"}
    # One's own name is not masked to oneself in one's private chat; the managers' group sees it masked.
    assert "申请人：张小明" in card_text(in_chat.content) and "张小明" not in card_text(in_managers.content)
    assert "申请人：张**" in card_text(in_managers.content)
    assert calls(bot) == 0
    # The copies' ids are stored once both are sent: wait for that, not for the sends alone.
    [row] = await eventually(lambda: rows_with_messages(bot, 2), what="both copies recorded")
    assert row["status"] == "pending" and row["idcard"] == ID_NUMBER
    assert sorted(row["message_ids"]) == sorted([in_chat.message_id, in_managers.message_id])
    no_full_id_anywhere(bot, cards_only=True)


async def test_asked_in_the_managers_chat_is_posted_once(bot: RunningBot) -> None:
    mentions = [wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")]
    asked = await bot.say(
        f"@_user_1 {INLINE}", user=MANAGER, chat_id=MANAGER_GROUP, chat_type="group", mentions=mentions
    )
    [card] = await bot.replies(asked)
    await bot.idle()
    assert len(bot.feishu.bot_messages(MANAGER_GROUP)) == 1
    # In a group even the requester's own copy masks their name (CARDS.md).
    manager = bot.feishu.directory.person(MANAGER).name
    assert f"申请人：{mask_name(manager)}" in card_text(card.content) and manager not in card_text(
        card.content
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"企业核验 {COMPANY} 91110108551385082A {NAME} {ID_NUMBER}", "企业标识不是有效的统一社会信用代码"),
        (f"企业核验 {COMPANY} 110108012660423 {NAME} {ID_NUMBER}", "企业标识不是有效的统一社会信用代码"),
        (f"企业核验 {COMPANY} {USCC} {NAME} 110101196912021231", "证件号码不是有效的 18 位身份证号码"),
        (f"企业核验 {COMPANY} {USCC} {ID_NUMBER}", "需要 4 项信息"),
    ],
)
async def test_invalid_input_is_refused_without_a_request_or_call(
    bot: RunningBot, text: str, problem: str
) -> None:
    reply = (await bot.replies(await bot.say(text)))[0]
    card = card_text(reply.content)
    assert "【无法发起核验】" in card and problem in card
    assert reply.content["header"]["template"] == "red"
    assert "110101196912021231" not in card  # values are not echoed back
    assert calls(bot) == 0 and dict(juhe(bot).billed_calls) == {}
    assert bot.feishu.bot_messages(MANAGER_GROUP) == [] and await rows(bot) == []


async def test_a_company_name_with_spaces(bot: RunningBot) -> None:
    in_chat, _ = await request_inline(
        bot, text=f"企业核验 Xiaomi  Technology Co Ltd {USCC} {NAME} {ID_NUMBER}"
    )
    assert "Xiaomi Technology Co Ltd" in title(in_chat)


# Deciding ----------------------------------------------------------------------------------------------------------
async def test_non_manager_gets_an_error_toast_and_nothing_is_called(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot)
    for copy, user in ((in_chat, EMPLOYEE), (in_managers, HR)):
        for button in ("核验", "驳回"):
            answer = await press(bot, copy, user=user, value=button_value(copy, button))
            assert answer["toast"]["type"] == "error"
            assert "只有管理员" in answer["toast"]["content"]
            assert "card" not in answer
    await bot.idle()
    assert calls(bot) == 0
    assert title(in_chat).startswith("企业核验申请") and title(in_managers).startswith("企业核验申请")
    assert (await rows(bot))[0]["status"] == "pending"


async def test_manager_verifies_and_every_copy_shows_the_result(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot)
    answer = await press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "核验"))
    assert answer["toast"]["type"] == "info" and "正在核验" in answer["toast"]["content"]
    await settled(bot, in_chat, in_managers, prefix="企业核验一致")

    assert juhe(bot).billed_calls[FOUR_FACTORS_ENCRYPTED_PATH] == 1  # the sandbox has an openid: encrypted
    assert billed(bot) == 1
    for copy in (in_chat, in_managers):
        text = card_text(copy.content)
        assert copy.content["header"]["template"] == "green"
        assert (
            text.split("\n")[1] == "**一致**：此人是该企业登记的法人/负责人，四项信息相符。"
        )  # the answer first
        assert "（7）" not in text
        assert "**核验人**：王**" in text and "**核验时间**：" in text
        assert "**经营状态**：存续" not in text  # regstatus is not asked for in plain/encrypted mode
        assert "[核验]" not in text and "[驳回]" not in text
    orderid = card_text(in_chat.content).split("**流水号**：")[1].split("\n")[0]
    assert orderid.startswith("JH535") and len(orderid) == 23
    assert orderid in card_text(in_managers.content)

    [audit] = await bot.app.services.store.audit_rows("企业核验")
    assert audit["actor"] == MANAGER and audit["outcome"] == "consistent" and audit["ref"] == orderid
    assert COMPANY in audit["subject"] and audit["at"] is not None
    assert audit["detail"]["idcard"] == MASKED_ID and audit["detail"]["name"] == "雷*"
    assert ID_NUMBER not in json.dumps(audit, default=str, ensure_ascii=False)
    assert NAME not in json.dumps(audit, default=str, ensure_ascii=False)

    [row] = await rows(bot)
    assert row["status"] == "done" and row["realname"] is None and row["idcard"] is None
    assert row["masked_idcard"] == MASKED_ID and row["outcome"]["orderid"] == orderid
    no_full_id_anywhere(bot, cards_only=True)


async def test_a_withdrawn_copy_gets_the_card_anew_in_its_chat(bot: RunningBot) -> None:
    """Feishu will not update a withdrawn copy (230011): the managers' chat gets the card as a new message, which
    later updates patch (one new message, not one per update), and the request remembers it."""
    in_chat, in_managers = await request_inline(bot)
    bot.feishu.withdraw(in_managers.message_id)
    answer = await press(bot, in_chat, user=MANAGER, value=button_value(in_chat, "核验"))
    assert answer["toast"]["content"] == STARTED
    await settled(bot, in_chat, prefix="企业核验一致")

    def resent() -> list[SandboxMessage]:
        return [
            m
            for m in bot.feishu.bot_messages(MANAGER_GROUP)
            if m.message_id != in_managers.message_id and title(m).startswith("企业核验一致")
        ]

    [again] = await wait_for(resent, within=10)
    assert [m.message_id for m in bot.feishu.bot_messages(MANAGER_GROUP)] == [
        in_managers.message_id,
        again.message_id,
    ]
    assert title(in_managers).startswith("企业核验申请")  # the withdrawn copy is left alone
    # The asker's private copy names them; the managers' copy is the same card with the name masked.
    assert "申请人：张小明" in card_text(in_chat.content)
    assert card_text(again.content) == card_text(in_chat.content).replace("申请人：张小明", "申请人：张**")
    assert billed(bot) == 1
    [row] = await rows(bot)
    assert row["message_ids"] == [in_chat.message_id, again.message_id]


async def test_inconsistent_name_is_red_with_the_detail(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot, text=f"企业核验 {COMPANY} {USCC} 张三 {ID_NUMBER}")
    await press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "核验"))
    await settled(bot, in_chat, in_managers, prefix="企业核验不一致")
    text = card_text(in_chat.content)
    assert in_chat.content["header"]["template"] == "red"
    assert "**不一致**：姓名不一致。" in text and "（-22）" not in text
    [audit] = await bot.app.services.store.audit_rows("企业核验")
    assert audit["outcome"] == "inconsistent"

    # The next step: a new, empty form in the same chat; the result stays and nothing more is billed.
    before = len(bot.feishu.bot_messages(in_chat.chat_id))
    answer = await press(bot, in_chat, user=EMPLOYEE, value=button_value(in_chat, "发起新的核验"))
    assert answer["toast"]["type"] == "success"
    form = (await wait_for(lambda: bot.feishu.bot_messages(in_chat.chat_id), before + 1))[-1]
    assert title(form) == "企业四要素核验" and "[提交核验申请]" in card_text(form.content)
    assert title(in_chat).startswith("企业核验不一致") and billed(bot) == 1


async def test_double_click_makes_one_call(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot)
    value = button_value(in_managers, "核验")
    answers = await asyncio.gather(*(press(bot, in_managers, user=MANAGER, value=value) for _ in range(2)))
    assert one_winner(answers)
    await settled(bot, in_chat, in_managers, prefix="企业核验一致")
    again = await press(bot, in_managers, user=MANAGER, value=value)  # a late click on a stale card
    assert again["toast"]["content"] == "这条申请已核验完成"
    await bot.idle()
    assert calls(bot) == 1 and billed(bot) == 1
    assert len(await bot.app.services.store.audit_rows("企业核验")) == 1


async def test_two_managers_clicking_at_once_make_one_call(tmp_path, clock) -> None:
    settings = make_settings(tmp_path, hrbot_managers=f"{MANAGER},{HR}")
    async with running_bot(settings, clock) as bot:
        mentions = [wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")]
        in_hr, in_managers = await request_inline(
            bot, user=HR, text=f"@_user_1 {INLINE}", chat_id=HR_GROUP, chat_type="group", mentions=mentions
        )
        assert in_hr.chat_id == HR_GROUP
        answers = await asyncio.gather(
            press(bot, in_hr, user=HR, value=button_value(in_hr, "核验")),
            press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "核验")),
        )
        assert one_winner(answers)
        await settled(bot, in_hr, in_managers, prefix="企业核验一致")
        assert calls(bot) == 1 and billed(bot) == 1
        assert len(await bot.app.services.store.audit_rows("企业核验")) == 1


async def test_reject_updates_every_copy_and_calls_nothing(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot)
    verify = button_value(in_managers, "核验")
    answer = await press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "驳回"))
    assert answer["toast"] == {"type": "success", "content": "已驳回"}
    await settled(bot, in_chat, in_managers, prefix="企业核验已驳回")
    text = card_text(in_chat.content)
    assert in_chat.content["header"]["template"] == "red"
    assert "王**" in text and "驳回" in text and MASKED_ID in text and "[核验]" not in text

    late = await press(bot, in_chat, user=MANAGER, value=verify)
    assert late["toast"]["content"] == "这条申请已被驳回"
    await bot.idle()
    assert calls(bot) == 0
    [audit] = await bot.app.services.store.audit_rows("企业核验")
    assert audit["outcome"] == "rejected" and audit["actor"] == MANAGER and audit["ref"] is None
    [row] = await rows(bot)
    assert row["status"] == "rejected" and row["idcard"] is None and row["realname"] is None


async def test_provider_failure_offers_a_retry_which_is_a_new_call(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot)
    services = bot.app.services
    first_value = button_value(in_managers, "核验")
    working = client(services)
    dead = services.settings_of(JuheSettings).model_copy(update={"juhe_apis_base_url": "http://127.0.0.1:9"})
    services.providers["juhe"] = from_settings(dead)
    try:
        await press(bot, in_managers, user=MANAGER, value=first_value)
        await settled(bot, in_chat, in_managers, prefix="企业核验失败")
    finally:
        await services.providers["juhe"].aclose()
        services.providers["juhe"] = working
    text = card_text(in_chat.content)
    assert "服务暂时不可用，请稍后再试" in text and "[重新核验]" in text and "[驳回]" in text
    assert in_chat.content["header"]["template"] == "red"
    [failed] = await services.store.audit_rows("企业核验")
    assert failed["outcome"] == "failed"
    assert (await rows(bot))[0]["idcard"] == ID_NUMBER  # kept for the retry

    stale = await press(bot, in_managers, user=MANAGER, value=first_value)
    assert "已更新" in stale["toast"]["content"]
    retry = button_value(in_chat, "重新核验")
    assert retry["attempt"] == 1
    await press(bot, in_chat, user=MANAGER, value=retry)
    await settled(bot, in_chat, in_managers, prefix="企业核验一致")
    assert billed(bot) == 1
    assert [a["outcome"] for a in await services.store.audit_rows("企业核验")] == ["failed", "consistent"]


async def test_provider_error_code_is_named_on_the_card(bot: RunningBot) -> None:
    in_chat, in_managers = await request_inline(bot, text=f"企业核验 错误码:253506 {USCC} {NAME} {ID_NUMBER}")
    await press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "核验"))
    await settled(bot, in_chat, in_managers, prefix="企业核验失败")
    assert "核验数据源异常，请稍后再试" in card_text(in_managers.content)
    assert billed(bot) == 0


# Modes -------------------------------------------------------------------------------------------------------------
def _independent_encrypt(value: str, openid: str) -> str:
    key = hashlib.md5(openid.encode()).hexdigest().lower()[:16].encode()
    data = value.encode()
    padding = 16 - len(data) % 16
    return base64.b64encode(AES.new(key, AES.MODE_ECB).encrypt(data + bytes([padding]) * padding)).decode()


@pytest.mark.parametrize(
    ("mode", "path"),
    [("plain", FOUR_FACTORS_PATH), ("encrypted", FOUR_FACTORS_ENCRYPTED_PATH), ("v2", FOUR_FACTORS_V2_PATH)],
)
async def test_each_mode_calls_its_endpoint(tmp_path, clock, mode: str, path: str) -> None:
    async with running_bot(make_settings(tmp_path), clock, juhe_four_factors_mode=mode) as bot:
        in_chat, in_managers = await request_inline(bot)
        await press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "核验"))
        await settled(bot, in_chat, in_managers, prefix="企业核验一致")
        assert dict(juhe(bot).billed_calls) == {path: 1}
        [sent] = juhe(bot).calls_to(path)
        text = card_text(in_chat.content)
        if mode == "v2":
            assert "**一致**：企业名称、企业标识" in text and "**经营状态**：存续" in text
            assert sent["regstatus"] == "1"
        else:
            assert "**一致**：此人是该企业登记的法人/负责人" in text and "（7）" not in text
        if mode == "encrypted":
            # The emulator decrypted these on its own to answer 一致; they also equal an independent encryption.
            openid = bot.app.services.settings_of(JuheSettings).juhe_openid
            assert sent["idcard"] == _independent_encrypt(ID_NUMBER, openid)
            assert sent["realname"] == _independent_encrypt(NAME, openid)
            assert sent["entname"] == _independent_encrypt(COMPANY, openid)
            assert sent["entmark"] == _independent_encrypt(USCC, openid)
        else:
            assert sent["idcard"] == ID_NUMBER
        no_full_id_anywhere(bot, cards_only=True)


def test_encryption_of_a_fixed_input_is_a_known_value() -> None:
    from bot.providers.juhe import encrypt_field

    assert _independent_encrypt(ID_NUMBER, "sandbox-openid") == FIXED_CIPHERTEXT
    assert encrypt_field(ID_NUMBER, "sandbox-openid") == FIXED_CIPHERTEXT


# The form ----------------------------------------------------------------------------------------------------------
async def test_form_flow_keeps_the_id_number_out_of_every_message(bot: RunningBot) -> None:
    form = (await bot.replies(await bot.say("企业核验")))[0]
    text = card_text(form.content)
    for label in ("企业全称", "企业标识", "法人/负责人姓名", "证件号码"):
        assert f"<{label} *>" in text
    submit = button_value(form, "提交核验申请")

    bad = await press(
        bot, form, user=EMPLOYEE, value=submit, form_value={**FORM, "idcard": "110101196912021231"}
    )
    assert bad["toast"]["type"] == "error" and "证件号码" in bad["toast"]["content"]
    assert title(form) == "企业四要素核验" and await rows(bot) == []

    ok = await press(bot, form, user=EMPLOYEE, value=submit, form_value=FORM)
    assert ok["toast"]["type"] == "success"
    assert title(form) == f"企业核验申请 · {COMPANY}" and MASKED_ID in card_text(form.content)
    assert "申请人：张小明" in card_text(form.content)  # the form was in the requester's private chat
    again = await press(bot, form, user=EMPLOYEE, value=submit, form_value=FORM)
    assert again["toast"]["content"] == "这张表单已经提交过了"
    [in_managers] = bot.feishu.bot_messages(MANAGER_GROUP)
    assert len(await rows(bot)) == 1

    await press(bot, form, user=MANAGER, value=button_value(form, "核验"))
    await settled(bot, form, in_managers, prefix="企业核验一致")
    assert billed(bot) == 1
    assert "申请人：张小明" in card_text(form.content) and "申请人：张**" in card_text(in_managers.content)
    no_full_id_anywhere(bot)  # every message, the users' too: the form kept the number off the chat


# Housekeeping ------------------------------------------------------------------------------------------------------
async def test_undecided_requests_expire_and_lose_the_id_number(bot: RunningBot, clock) -> None:
    in_chat, in_managers = await request_inline(bot)
    clock.advance(timedelta(days=8))
    await expire_stale(bot.app.services)
    assert title(in_chat).startswith("企业核验申请已过期") and title(in_managers).startswith(
        "企业核验申请已过期"
    )
    assert in_chat.content["header"]["template"] == "grey"
    [row] = await rows(bot)
    assert row["status"] == "expired" and row["idcard"] is None and row["realname"] is None
    late = await press(
        bot,
        in_managers,
        user=MANAGER,
        value={"action": "four_factors.verify", "request": row["id"], "attempt": 0},
    )
    assert late["toast"]["content"] == "这条申请已过期，请重新发起"
    assert calls(bot) == 0


async def test_a_verification_cut_off_by_a_restart_reopens(bot: RunningBot, clock) -> None:
    from handlers.four_factors.router import expire_stale
    from handlers.four_factors.state import Verifications

    in_chat, in_managers = await request_inline(bot)
    request_id = (await rows(bot))[0]["id"]
    # The click was taken (核验中) but the process died before the call: simulated by starting without calling.
    await Verifications(bot.app.services.store).start(request_id, MANAGER, clock.now())
    await expire_stale(bot.app.services)
    assert (await rows(bot))[0]["status"] == "verifying"  # too early to call it interrupted
    clock.advance(timedelta(minutes=11))
    await expire_stale(bot.app.services)
    assert "核验过程被中断" in card_text(in_managers.content) and "[重新核验]" in card_text(
        in_managers.content
    )
    answer = await press(bot, in_managers, user=MANAGER, value=button_value(in_managers, "重新核验"))
    assert answer["toast"]["content"] == STARTED
    await settled(bot, in_chat, in_managers, prefix="企业核验一致")
    assert calls(bot) == 1
