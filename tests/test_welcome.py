"""The welcome card (private chat opened, bot added to a group) and the bot's custom menu, through the ingress."""

from __future__ import annotations

from typing import Any

from bot.sandbox.directory import EMPLOYEE, HR, HR_GROUP, Directory
from cards.text import card_text
from tests.conftest import RunningBot, card_buttons, wait_for

EMPLOYEE_P2P = Directory.p2p_chat_of(EMPLOYEE)


def _operator(open_id: str) -> dict[str, Any]:
    return {"open_id": open_id, "user_id": "", "union_id": ""}


async def test_a_new_private_chat_gets_the_welcome_card_whose_buttons_show_usage(bot: RunningBot) -> None:
    event = {"chat_id": EMPLOYEE_P2P, "operator_id": _operator(EMPLOYEE), "last_message_id": ""}
    await bot.post_event("im.chat.access_event.bot_p2p_chat_entered_v1", event)
    (welcome,) = await wait_for(lambda: bot.feishu.bot_messages(EMPLOYEE_P2P))
    assert "欢迎" in card_text(welcome.content) and "直接发送命令" in card_text(welcome.content)
    buttons = card_buttons(welcome.content)
    assert "企业社保" in buttons and "帮助" not in buttons
    answer = await bot.click(welcome, user=EMPLOYEE, value=buttons["企业社保"])
    assert "企业社保" in answer["toast"]["content"]
    usage = await wait_for(lambda: bot.feishu.bot_messages(EMPLOYEE_P2P), 2)
    text = card_text(usage[-1].content)
    assert "hrbot · 企业社保" in text and "发送：`企业社保 " in text
    await bot.idle()
    # The button showed the usage and ran nothing: no provider was called.
    assert bot.sandbox.juhe.calls == []


async def test_reopening_a_used_private_chat_says_nothing(bot: RunningBot) -> None:
    event = {"chat_id": EMPLOYEE_P2P, "operator_id": _operator(EMPLOYEE), "last_message_id": "om_earlier"}
    await bot.post_event("im.chat.access_event.bot_p2p_chat_entered_v1", event)
    await bot.idle()
    assert bot.feishu.bot_messages(EMPLOYEE_P2P) == []


async def test_added_to_a_group_the_bot_says_how_to_address_it(bot: RunningBot) -> None:
    event = {"chat_id": HR_GROUP, "operator_id": _operator(HR), "external": False, "name": "HR"}
    await bot.post_event("im.chat.member.bot.added_v1", event)
    (welcome,) = await wait_for(lambda: bot.feishu.bot_messages(HR_GROUP))
    assert "@我" in card_text(welcome.content) and "企业核验" in card_buttons(welcome.content)


async def test_the_custom_menu_sends_a_commands_usage_or_the_command_list(bot: RunningBot) -> None:
    hr_p2p = Directory.p2p_chat_of(HR)
    operator = {"operator_name": "HR", "operator_id": _operator(HR)}
    await bot.post_event("application.bot.menu_v6", {"operator": operator, "event_key": "企业核验"})
    (usage,) = await wait_for(lambda: bot.feishu.bot_messages(hr_p2p))
    assert "hrbot · 企业核验" in card_text(usage.content)
    await bot.post_event("application.bot.menu_v6", {"operator": operator, "event_key": "no-such-key"})
    listed = await wait_for(lambda: bot.feishu.bot_messages(hr_p2p), 2)
    assert "企业社保" in card_buttons(listed[-1].content)
