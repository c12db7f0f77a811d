"""The help card: each command's button shows its usage in place, never runs the command (nothing billed)."""

from __future__ import annotations

from bot.sandbox.directory import EMPLOYEE
from cards.text import card_text
from tests.conftest import RunningBot, card_buttons


async def test_every_command_button_shows_its_usage_and_runs_nothing(bot: RunningBot) -> None:
    asked = await bot.say("帮助", user=EMPLOYEE)
    [help_message] = await bot.replies(asked)
    commands = [c.name for c in bot.app.dispatcher.commands]
    shown = card_buttons(help_message.content)
    assert set(commands) <= set(shown), "every command has its button"

    for command in commands:
        answer = await bot.click(help_message, user=EMPLOYEE, value=shown[command])
        usage = answer["card"]["data"]
        text = card_text(usage, plain=True)
        assert text.startswith(f"【hrbot · {command}】") and "发送：" in text
        back = await bot.click(help_message, user=EMPLOYEE, value=card_buttons(usage)["返回全部命令"])
        assert "使用帮助" in card_text(back["card"]["data"])

    await bot.idle()
    # No command ran: only the help reply, nothing asked of a provider, nothing billed.
    assert len(bot.feishu.replies_to(asked)) == 1
    assert bot.sandbox.juhe.calls == [] and bot.sandbox.tcredit.created_tasks == 0
