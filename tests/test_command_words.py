"""A command word typed without a space is that command only when what follows is what the command takes: a question
after a command word gets that command's usage, never a billed query nor an action done."""

from __future__ import annotations

import pytest

from bot.clock import Clock
from bot.config import Settings
from bot.lifecycle.features import build_dispatcher, discover
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR, HR_GROUP, MANAGER_GROUP
from bot.trust.consent import Consents
from handlers.adjust_records.state import subscriptions
from tests import feishu_wire as wire
from tests.conftest import RunningBot, running_bot

XIAOMI = "小米科技有限责任公司"
BOT = wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")

DISPATCHER = build_dispatcher(discover())


def matched(text: str) -> tuple[str | None, str]:
    command, _word, args = DISPATCHER.match(text)
    return (command.name if command else None), (args if command else "")


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        (f"企业社保{XIAOMI}", "企业社保", XIAOMI),
        ("企业社保91110108551385082Q", "企业社保", "91110108551385082Q"),
        ("企业社保110108000000016", "企业社保", "110108000000016"),
        ("企业社保某某投资中心（有限合伙）", "企业社保", "某某投资中心（有限合伙）"),
        ("小微企业成都成电光信科技股份有限公司", "小微企业", "成都成电光信科技股份有限公司"),
        ("小微企业成都某某农业专业合作社", "小微企业", "成都某某农业专业合作社"),
        (f"企业核验{XIAOMI} 91110108551385082Q 雷军 11010519491231002X", "企业核验", None),
        ("个人社保北京", "个人社保", "北京"),
        ("增减员13800138000", "增减员", "13800138000"),
        ("增减员zhang.san@example.com", "增减员", "zhang.san@example.com"),
        ("撤回同意", "撤回同意", ""),
        ("撤回同意。", "撤回同意", None),
        ("取消订阅增减员摘要！", "取消订阅增减员摘要", None),
        ("我的数据 ", "我的数据", ""),
    ],
)
def test_a_command_word_joined_to_what_it_takes_is_the_command(
    text: str, command: str, args: str | None
) -> None:
    found, found_args = matched(text)
    assert found == command
    if args is not None:
        assert found_args == args


@pytest.mark.parametrize(
    "text",
    [
        "小微型企业是什么",
        "小微企业认定标准是什么",
        "企业社保怎么查询比较好",
        "企业社保查一下哪家公司",
        "小微成都成电光信科技股份有限公司",  # a two-character word is never joined
        "企业核验需要什么",
        "个人社保怎么查",
        "个人社保能查吗",
        "增减员怎么查",
        "撤回同意了会怎么样？",
        "撤回同意 了会怎么样",
        "撤回同意：企业核验",
        "取消订阅增减员摘要吗",
        "增减员摘要吗",  # the longest word was meant: not 增减员 about 「摘要吗」
        "删除我的数据会怎样",
        "我的数据在哪里",
        "用量是多少",
    ],
)
def test_a_question_after_a_command_word_is_no_command(text: str) -> None:
    assert matched(text) == (None, "")


async def _suggestion(bot: RunningBot, text: str, **kw) -> str:
    return await bot.reply_text(await bot.say(text, **kw))


@pytest.mark.parametrize(
    ("text", "command", "usage"),
    [
        ("企业社保怎么查询比较好", "企业社保", f"企业社保 {XIAOMI}"),
        ("小微型企业是什么", "小微企业", "小微企业 成都成电光信科技股份有限公司"),
        ("小微企业认定标准是什么", "小微企业", "小微企业 成都成电光信科技股份有限公司"),
    ],
)
async def test_a_question_gets_the_commands_usage_and_nothing_is_billed(
    bot: RunningBot, text: str, command: str, usage: str
) -> None:
    shown = await _suggestion(bot, text)
    assert f"你是不是想用「{command}」？" in shown and usage in shown
    assert "这个命令" not in shown, "the word exists: only what followed it was not for it"
    await bot.idle()
    assert bot.sandbox.juhe.calls == []


async def test_a_company_typed_straight_after_the_word_is_still_queried(bot: RunningBot) -> None:
    shown = await _suggestion(bot, "小微企业成都成电光信科技股份有限公司")
    assert shown.startswith("【小微企业 · 成都成电光信科技股份有限公司】") and "查询中" in shown
    await bot.idle()
    assert bot.sandbox.juhe.calls, "the company was asked about"


async def test_a_question_about_withdrawing_consent_withdraws_nothing(bot: RunningBot) -> None:
    consents = Consents(bot.app.services.store)

    async def agreed() -> list[str]:
        return [c.notice for c in await consents.of(EMPLOYEE) if c.withdrawn_at is None]

    before = await agreed()
    assert before, "the sandbox's employee has agreed to the notices"
    for text in ("撤回同意了会怎么样？", "撤回同意 了会怎么样"):
        shown = await _suggestion(bot, text)
        assert "你是不是想用「撤回同意」？" in shown and "已撤回" not in shown
    assert await agreed() == before
    assert "已撤回同意" in await _suggestion(bot, "撤回同意！")
    assert await agreed() == []


async def test_a_question_about_unsubscribing_keeps_the_subscription(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock, hrbot_digest_chat_ids=MANAGER_GROUP) as bot:
        await _unsubscribe_asked(bot)


async def _unsubscribe_asked(bot: RunningBot) -> None:
    async def group_say(text: str) -> str:
        message = await bot.say(
            f"@_user_1 {text}", user=HR, chat_id=HR_GROUP, chat_type="group", mentions=[BOT]
        )
        return await bot.reply_text(message)

    assert "已订阅增减员摘要" in await group_say("订阅增减员摘要")
    shown = await group_say("取消订阅增减员摘要吗")
    assert "你是不是想用「取消订阅增减员摘要」？" in shown and "已取消订阅" not in shown
    assert HR_GROUP in await subscriptions(bot.app.services.store)
