"""The webhook as Feishu drives it: url checks, encryption, signatures, tokens, redelivery, routing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging

import pytest
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad

from bot.lifecycle.app import BotApp
from bot.providers.base import ProviderError
from bot.routing.context import ActionContext, MessageContext
from bot.routing.router import ActionResponse, Router
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR, HR_GROUP, Directory
from cards.common import card, markdown
from cards.text import card_text
from tests import feishu_wire as wire
from tests.conftest import RunningBot, make_settings, running_bot, wait_for


async def test_url_verification_plain(bot: RunningBot) -> None:
    body = json.dumps(
        {"challenge": "ajls384kdjx98XX", "token": wire.TOKEN, "type": "url_verification"}
    ).encode()
    response = await bot.post_raw(body)
    assert response.status_code == 200
    assert response.json() == {"challenge": "ajls384kdjx98XX"}


async def test_url_verification_encrypted(bot: RunningBot) -> None:
    body = wire.encrypt_body({"challenge": "c-123", "token": wire.TOKEN, "type": "url_verification"})
    response = await bot.post_raw(body)
    assert response.json() == {"challenge": "c-123"}


async def test_url_verification_with_wrong_token_is_refused(bot: RunningBot) -> None:
    body = wire.encrypt_body({"challenge": "c-123", "token": "guess", "type": "url_verification"})
    response = await bot.post_raw(body)
    assert response.status_code == 401
    assert "c-123" not in response.text


async def test_bad_signature_is_refused_and_causes_nothing(bot: RunningBot) -> None:
    event = wire.message_event("帮助", user=EMPLOYEE, chat_id="oc_p2p_" + EMPLOYEE)
    body = wire.encrypt_body(wire.envelope("im.message.receive_v1", event))
    headers = wire.sign(body, key="not-the-key")
    response = await bot.post_raw(body, headers)
    assert response.status_code == 401
    unsigned = await bot.post_raw(body)
    assert unsigned.status_code == 401
    tampered = body.replace(b'"}', b'" }')
    assert (await bot.post_raw(tampered, wire.sign(body))).status_code == 401
    await bot.idle()
    assert bot.feishu.bot_messages() == []


async def test_wrong_verification_token_is_refused(bot: RunningBot) -> None:
    event = wire.message_event("帮助", user=EMPLOYEE, chat_id="oc_p2p_" + EMPLOYEE)
    response = await bot.post_event("im.message.receive_v1", event, token="wrong-token")
    assert response.status_code == 401
    await bot.idle()
    assert bot.feishu.bot_messages() == []


async def test_malformed_bodies_get_400_without_internals(bot: RunningBot) -> None:
    for body in (b"{not json", b"[1,2]", b'{"encrypt": "!!!notbase64"}', b'{"encrypt": 5}', "中文".encode()):
        response = await bot.post_raw(body)
        assert response.status_code == 400, body
        assert "Traceback" not in response.text and "Error" not in response.text
    # Decrypted, but not UTF-8 text: malformed too (the parser checks the bytes it is given).
    cipher = AES.new(hashlib.sha256(wire.ENCRYPT_KEY.encode()).digest(), AES.MODE_CBC, bytes(16))
    not_text = base64.b64encode(bytes(16) + cipher.encrypt(pad(b'{"a": "\xff"}', 16))).decode()
    assert (await bot.post_raw(json.dumps({"encrypt": not_text}).encode())).status_code == 400
    no_header = wire.encrypt_body({"schema": "2.0", "event": {}})
    assert (await bot.post_raw(no_header, wire.sign(no_header))).status_code == 400
    # A verified event whose parts cannot be read is claimed and answered (no redelivery loop), never run.
    broken = wire.envelope("im.message.receive_v1", {"message": {"chat_type": "p2p"}})
    body = wire.encrypt_body(broken)
    assert (await bot.post_raw(body, wire.sign(body))).status_code == 200
    await bot.idle()
    assert bot.feishu.bot_messages() == []


async def test_redelivered_event_gets_one_reply(bot: RunningBot) -> None:
    event = wire.message_event("帮助", user=EMPLOYEE, chat_id="oc_p2p_" + EMPLOYEE)
    for _ in range(3):
        response = await bot.post_event("im.message.receive_v1", event, event_id="ev-same")
        assert response.status_code == 200
    # Feishu may also redeliver the same message under a new event_id.
    await bot.post_event("im.message.receive_v1", event)
    await bot.replies(event["message"]["message_id"])
    await bot.idle()
    assert len(bot.feishu.replies_to(event["message"]["message_id"])) == 1


async def test_help_in_private_chat(bot: RunningBot) -> None:
    message_id = await bot.say("帮助")
    text = await bot.reply_text(message_id)
    assert "使用帮助" in text
    assert "帮助" in text and "例：" in text


async def test_group_message_without_mention_gets_no_reply_and_leaves_no_trace(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    other = wire.mention("@_user_1", "ou_someone_else", "王五")
    with caplog.at_level(logging.INFO, logger="hrbot.events"):
        silent = await bot.say("帮助", user=HR, chat_id=HR_GROUP, chat_type="group")
        also_silent = await bot.say(
            "@_user_1 帮助", user=HR, chat_id=HR_GROUP, chat_type="group", mentions=[other]
        )
    # Most of a group's traffic: decided on before anything is written, and no line at INFO.
    store = bot.app.services.store  # type: ignore[union-attr]
    assert not await store.claimed(f"message:{silent}") and not await store.claimed(f"message:{also_silent}")
    assert "not-addressed" not in caplog.text
    with caplog.at_level(logging.DEBUG, logger="hrbot.events"):
        await bot.say("今天开会", user=HR, chat_id=HR_GROUP, chat_type="group")
    assert "outcome=not-addressed" in caplog.text  # still there when asked for
    addressed = await bot.say(
        "@_user_1 帮助",
        user=HR,
        chat_id=HR_GROUP,
        chat_type="group",
        mentions=[wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")],
    )
    assert "使用帮助" in await bot.reply_text(addressed)
    assert await store.claimed(f"message:{addressed}")
    await bot.idle()
    assert bot.feishu.replies_to(silent) == [] and bot.feishu.replies_to(also_silent) == []


async def test_unknown_command_and_non_text_get_help(bot: RunningBot) -> None:
    unknown = await bot.say("吃饭了吗")
    assert "没有「吃饭了吗」这个命令" in await bot.reply_text(unknown)
    image = await bot.say("", message_type="image", content=json.dumps({"image_key": "img_x"}))
    assert "只能理解文字消息" in await bot.reply_text(image)


async def test_dedup_survives_restart(settings, clock) -> None:
    event = wire.message_event("帮助", user=EMPLOYEE, chat_id="oc_p2p_" + EMPLOYEE)
    async with running_bot(settings, clock) as first:
        await first.post_event("im.message.receive_v1", event, event_id="ev-restart")
        await first.replies(event["message"]["message_id"])
    async with running_bot(settings, clock) as second:
        response = await second.post_event("im.message.receive_v1", event, event_id="ev-restart")
        assert response.status_code == 200
        await second.idle()
        # A fresh emulator: any reply here would be the duplicate.
        assert second.feishu.bot_messages() == []


async def test_handler_failures_become_clear_cards(bot: RunningBot) -> None:
    router = Router("test-failures")

    @router.command("爆炸", summary="test")
    async def explode(ctx: MessageContext) -> None:
        raise RuntimeError("secret internal detail /srv/app.py line 3")

    @router.command("缺钱", summary="test")
    async def broke(ctx: MessageContext) -> None:
        raise ProviderError("juhe", 10012, "今日查询次数已用完，请联系管理员")

    bot.app.dispatcher.include(router)
    crash = await bot.reply_text(await bot.say("爆炸"))
    assert "处理失败" in crash and "secret" not in crash and "Traceback" not in crash
    provider = await bot.reply_text(await bot.say("缺钱"))
    assert "查询失败" in provider and "今日查询次数已用完" in provider


async def test_card_actions_answer_in_time_and_patch_when_slow(tmp_path, clock) -> None:
    async with running_bot(make_settings(tmp_path, hrbot_action_timeout=0.2), clock) as bot:
        await _check_card_actions(bot)


async def _check_card_actions(bot: RunningBot) -> None:
    router = Router("test")

    @router.action("quick")
    async def quick(ctx: ActionContext) -> ActionResponse:
        return ActionResponse.toast("已完成", "success", card=card("完成", "green", [markdown("ok")]))

    @router.action("slow")
    async def slow(ctx: ActionContext) -> ActionResponse:
        await asyncio.sleep(0.6)
        return ActionResponse.replace(card("慢慢完成", "green", [markdown("patched later")]))

    @router.action("slow_failure")
    async def slow_failure(ctx: ActionContext) -> ActionResponse:
        await asyncio.sleep(0.6)
        raise ProviderError("juhe", 10012, "查询服务余额不足，请联系管理员")

    bot.app.dispatcher.include(router)
    help_reply = (await bot.replies(await bot.say("帮助")))[0]

    answer = await bot.click(help_reply, user=EMPLOYEE, value={"action": "test.quick"})
    assert (
        answer["toast"]["content"] == "已完成"
        and answer["card"]["data"]["header"]["title"]["content"] == "完成"
    )

    answer = await bot.click(help_reply, user=EMPLOYEE, value={"action": "test.slow"})
    assert "正在处理" in answer["toast"]["content"]
    await wait_for(lambda: [1] if "patched later" in card_text(help_reply.content) else [])

    answer = await bot.click(help_reply, user=EMPLOYEE, value={"action": "test.slow_failure"})
    assert "正在处理" in answer["toast"]["content"]
    failures = await wait_for(
        lambda: [
            m for m in bot.feishu.bot_messages(help_reply.chat_id) if "操作失败" in card_text(m.content)
        ],
        1,
    )
    assert "余额不足" in card_text(failures[0].content)

    stale = await bot.click(help_reply, user=EMPLOYEE, value={"action": "no.such.action"})
    assert stale["toast"]["type"] == "warning"


async def test_live_webhook_mode_requires_a_verification_token(tmp_path) -> None:
    from bot.config import ConfigError

    settings = make_settings(tmp_path, feishu_app_id="cli_x", feishu_app_secret="s")
    app = BotApp(settings)
    try:
        await app.start()
    except ConfigError as exc:
        assert "FEISHU_VERIFICATION_TOKEN" in str(exc) and "FEISHU_ENCRYPT_KEY" in str(exc)
    else:
        await app.stop()
        raise AssertionError("started without a verification token")


async def test_logs_carry_no_message_text_or_personal_data(bot: RunningBot, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    secret_text = "企业核验 小米科技有限责任公司 91110108551385082Q 雷军 110101196912021230 13812345678"
    await bot.replies(await bot.say(secret_text))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "event " in logged  # the one line per event is there
    for fragment in ("110101196912021230", "13812345678", "雷军", wire.ENCRYPT_KEY, "sandbox-secret"):
        assert fragment not in logged


async def test_a_post_message_is_read_as_its_text(bot: RunningBot) -> None:
    # A line break typed in Feishu's input box sends a post: paragraphs of elements, no language wrapper.
    typed = {
        "title": "",
        "content": [
            [{"tag": "text", "text": "帮助", "style": []}],
            [{"tag": "text", "text": "谢谢", "style": ["bold"]}],
        ],
    }
    post = await bot.say("", message_type="post", content=json.dumps(typed, ensure_ascii=False))
    text = await bot.reply_text(post)
    assert "使用帮助" in text and "只能理解文字消息" not in text
    # Pasted formatted text in a group, the bot @-mentioned inside it, with a title and a language wrapper.
    pasted = {
        "zh_cn": {
            "title": "请看",
            "content": [
                [
                    {"tag": "at", "user_id": "@_user_1", "user_name": "hrbot", "style": []},
                    {"tag": "text", "text": " 吃饭了吗", "style": []},
                ]
            ],
        }
    }
    in_group = await bot.say(
        "",
        user=HR,
        chat_id=HR_GROUP,
        chat_type="group",
        message_type="post",
        content=json.dumps(pasted, ensure_ascii=False),
        mentions=[wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")],
    )
    assert "没有「吃饭了吗」这个命令" in await bot.reply_text(in_group)


async def test_the_emulator_sends_a_line_break_as_a_post_as_feishus_client_does(bot: RunningBot) -> None:
    in_group = await bot.feishu.user_says("@hrbot 吃饭了吗\n谢谢", user=HR, chat_id=HR_GROUP)
    assert "没有「吃饭了吗」这个命令" in await bot.reply_text(in_group.message_id)
    # A person mentioned on the second line is still that person.
    p2p = await bot.feishu.user_says("增减员\n@王建国", user=HR, chat_id=Directory.p2p_chat_of(HR))
    assert "社保增减员记录 · 王" in await bot.reply_text(p2p.message_id, within=10)


async def test_a_message_recalled_before_the_answer_is_answered_in_the_chat(bot: RunningBot) -> None:
    event = wire.message_event("帮助", user=EMPLOYEE, chat_id="oc_p2p_" + EMPLOYEE)
    message_id = event["message"]["message_id"]
    bot.feishu.record_user_message(message_id, chat_id="oc_p2p_" + EMPLOYEE, sender="user", text="帮助")
    bot.feishu.withdraw(message_id)  # the user recalls it: a reply to it is refused (230011)
    await bot.post_event("im.message.receive_v1", event)
    [answer] = await wait_for(lambda: bot.feishu.bot_messages("oc_p2p_" + EMPLOYEE))
    assert answer.reply_to is None and "使用帮助" in card_text(answer.content)
