"""The help card: each command's button shows its usage in place, never runs the command (nothing billed)."""

from __future__ import annotations

from bot.sandbox.directory import EMPLOYEE, MANAGER
from cards.text import card_text
from tests.conftest import RunningBot, card_buttons

ADMINS_ONLY = {"审计", "用量"}


async def test_every_command_button_shows_its_usage_and_runs_nothing(bot: RunningBot) -> None:
    # The sandbox's manager is its admin (HRBOT_ADMINS unset): every command is theirs.
    asked = await bot.say("帮助", user=MANAGER)
    [help_message] = await bot.replies(asked)
    commands = [c.name for c in bot.app.dispatcher.commands]
    shown = card_buttons(help_message.content)
    assert set(commands) <= set(shown), "every command has its button"

    for command in commands:
        answer = await bot.click(help_message, user=MANAGER, value=shown[command])
        usage = answer["card"]["data"]
        text = card_text(usage, plain=True)
        assert text.startswith(f"【hrbot · {command}】") and "发送：" in text
        back = await bot.click(help_message, user=MANAGER, value=card_buttons(usage)["返回全部命令"])
        assert "使用帮助" in card_text(back["card"]["data"])

    await bot.idle()
    # No command ran: only the help reply, nothing asked of a provider, nothing billed.
    assert len(bot.feishu.replies_to(asked)) == 1
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
