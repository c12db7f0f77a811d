"""Who sees full names (and with them salary bases and amounts) on 增减员 cards: the one rule, also in README.

HR files every 增减员 line by name, so HR must see names in full; nobody else has business with them. Full names are
shown
- to a person about their own records;
- to HR (HRBOT_HR_OPEN_IDS or HRBOT_HR_CHAT_ID's members) in a private chat with the bot;
- in a digest chat (HRBOT_DIGEST_CHAT_IDS, or subscribed with 订阅增减员摘要) whose members are all HR, as the chat
  members API says at the moment of sending.
Everywhere else names are masked (张*) and no salary figure is shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.feishu.client import FeishuError
from bot.lifecycle.services import Services
from bot.routing.roles import Role
from handlers.adjust_records.settings import settings_of
from handlers.adjust_records.state import subscriptions

log = logging.getLogger("hrbot.adjust_records")


async def is_hr(services: Services, open_id: str) -> bool:
    return await services.roles.has(Role.HR, open_id)


async def full_view_in_private(services: Services, viewer: str, subject: str) -> bool:
    """In a private chat with the bot: one's own records, or HR."""
    return viewer == subject or await is_hr(services, viewer)


@dataclass(frozen=True)
class ChatAudience:
    chat_id: str
    full: bool
    hr_members: tuple[str, ...] = ()
    # Why names are masked here, in HR's words; empty when they are not.
    reason: str = ""


async def digest_chats(services: Services) -> list[str]:
    """The configured digest chats, then the subscribed ones."""
    return list(
        dict.fromkeys([*settings_of(services).digest_chat_ids, *(await subscriptions(services.store))])
    )


async def chat_audience(services: Services, chat_id: str) -> ChatAudience:
    """Full names in a chat only when it is a digest chat and every member is HR."""
    if chat_id not in await digest_chats(services):
        return ChatAudience(chat_id, False, reason="这个群不是增减员摘要群")
    try:
        members = await services.feishu.chat_member_ids(chat_id)
    except (FeishuError, OSError) as exc:
        log.warning("could not list the members of chat %s: %s", chat_id, exc)
        return ChatAudience(chat_id, False, reason="无法确认群成员")
    hr_ids = await services.roles.members(Role.HR)
    hr = tuple(m for m in members if m in hr_ids)
    outsiders = len(members) - len(hr)
    if outsiders:
        return ChatAudience(chat_id, False, hr, reason=f"群里有 {outsiders} 位成员不是 HR")
    return ChatAudience(chat_id, True, hr)
