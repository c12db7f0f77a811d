"""The help card: each command's button shows its usage in place, never runs the command (nothing billed)."""

from __future__ import annotations

from typing import Any

from bot.sandbox.directory import EMPLOYEE
from cards.text import card_text
from tests.conftest import RunningBot


def buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A card's buttons: shown text → callback value."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                found[node["text"]["content"]] = node["behaviors"][0]["value"]
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(card)
    return found


async def test_every_command_button_shows_its_usage_and_runs_nothing(bot: RunningBot) -> None:
    asked = await bot.say("帮助", user=EMPLOYEE)
    [help_message] = await bot.replies(asked)
    commands = [c.name for c in bot.app.services.dispatcher.commands]
    shown = buttons(help_message.content)
    assert set(commands) <= set(shown), "every command has its button"

    for command in commands:
        answer = await bot.click(help_message, user=EMPLOYEE, value=shown[command])
        usage = answer["card"]["data"]
        text = card_text(usage, plain=True)
        assert text.startswith(f"【hrbot · {command}】") and "发送：" in text
        back = await bot.click(help_message, user=EMPLOYEE, value=buttons(usage)["返回全部命令"])
        assert "使用帮助" in card_text(back["card"]["data"])

    await bot.idle()
    # No command ran: only the help reply, nothing asked of a provider, nothing billed.
    assert len(bot.feishu.replies_to(asked)) == 1
    assert bot.sandbox.juhe.calls == [] and bot.sandbox.tcredit.created_tasks == 0
