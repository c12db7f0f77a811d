"""The help card: each command's button shows its usage in place, never runs the command (nothing billed)."""

from __future__ import annotations

from bot.sandbox.directory import EMPLOYEE, HR, MANAGER
from cards.text import card_text
from tests.conftest import RunningBot, card_buttons

ADMINS_ONLY = {"审计", "用量"}
# Their handlers check HR themselves (the refusal card names the digest); help lists them to HR only.
HR_ONLY = {"增减员摘要", "订阅增减员摘要", "取消订阅增减员摘要"}


async def test_every_command_button_shows_its_usage_and_runs_nothing(bot: RunningBot) -> None:
    # The sandbox's manager is its admin (HRBOT_ADMINS unset), HR has the digest: every command is one of theirs.
    helps = {user: await bot.say("帮助", user=user) for user in (MANAGER, HR)}
    commands = [c.name for c in bot.app.dispatcher.commands]
    shown: dict[str, tuple[str, object, dict]] = {}
    for user, asked in helps.items():
        [help_message] = await bot.replies(asked)
        for command, value in card_buttons(help_message.content).items():
            shown.setdefault(command, (user, help_message, value))
    assert set(commands) <= set(shown), "every command has its button"

    for command in commands:
        user, help_message, value = shown[command]
        answer = await bot.click(help_message, user=user, value=value)
        usage = answer["card"]["data"]
        text = card_text(usage, plain=True)
        assert text.startswith(f"【hrbot · {command}】") and "发送：" in text
        back = await bot.click(help_message, user=user, value=card_buttons(usage)["返回全部命令"])
        assert "使用帮助" in card_text(back["card"]["data"])

    await bot.idle()
    # No command ran: only the help replies, nothing asked of a provider, nothing billed.
    assert all(len(bot.feishu.replies_to(asked)) == 1 for asked in helps.values())
    assert bot.sandbox.juhe.calls == [] and bot.sandbox.tcredit.created_tasks == 0


async def test_an_employees_help_lists_only_what_they_may_use(bot: RunningBot) -> None:
    asked = await bot.say("帮助", user=EMPLOYEE)
    [help_message] = await bot.replies(asked)
    shown = set(card_buttons(help_message.content))
    text = card_text(help_message.content)
    assert "企业社保" in shown and "个人社保" in shown
    assert not ADMINS_ONLY & shown and "**审计**" not in text and "**用量**" not in text
    back = await bot.click(help_message, user=EMPLOYEE, value=card_buttons(help_message.content)["企业社保"])
    back = await bot.click(
        help_message, user=EMPLOYEE, value=card_buttons(back["card"]["data"])["返回全部命令"]
    )
    assert not ADMINS_ONLY & set(card_buttons(back["card"]["data"]))


async def test_the_digest_commands_are_listed_to_hr_only_and_still_answered_as_before(
    bot: RunningBot,
) -> None:
    employee = (await bot.replies(await bot.say("帮助", user=EMPLOYEE)))[0].content
    assert not HR_ONLY & set(card_buttons(employee)), "an employee's help hides what only HR may use"
    assert all(f"**{word}**" not in card_text(employee) for word in HR_ONLY)
    hr = (await bot.replies(await bot.say("帮助", user=HR)))[0].content
    assert HR_ONLY <= set(card_buttons(hr))
    # Who may run them is unchanged: the handler's own refusal, as before.
    assert "增减员摘要仅供 HR" in await bot.reply_text(await bot.say("增减员摘要", user=EMPLOYEE))


async def test_a_typo_echoes_the_mistyped_word_only(bot: RunningBot) -> None:
    text = await bot.reply_text(await bot.say("企业社宝小米科技有限责任公司"))
    assert "没有「企业社宝」这个命令。你是不是想用「企业社保」？" in text
    assert "企业社宝小" not in text, "what followed the word is not part of the typo"
    # The echo is still the user's text as data: a markdown character shows as typed, never as markup.
    card = (await bot.replies(await bot.say("企业*保小米科技有限责任公司")))[0].content
    first = card["body"]["elements"][0]["content"]
    assert first.startswith("没有「企业&#42;保」这个命令") and "没有「企业*保」这个命令" in card_text(card)
    await bot.idle()
    assert bot.sandbox.juhe.calls == []


async def test_a_typo_gets_the_nearest_command_and_its_usage(bot: RunningBot) -> None:
    text = await bot.reply_text(await bot.say("企业社宝 小米科技有限责任公司"))
    assert "没有「企业社宝」这个命令。你是不是想用「企业社保」？" in text
    assert "企业社保 小米科技有限责任公司" in text and "个人社保" not in text, "the usage, not the whole list"
    text = await bot.reply_text(await bot.say("个人社宝北京"))
    assert "你是不是想用「个人社保」？" in text
    # An employee is never pointed to an admin's command; far from every command, the whole list.
    text = await bot.reply_text(await bot.say("吃饭了吗"))
    assert "没有「吃饭了吗」这个命令" in text and "你是不是想用" not in text and "企业社保" in text
    await bot.idle()
    assert bot.sandbox.juhe.calls == []
