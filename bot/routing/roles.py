"""Who holds a role every feature may check (HR, managers): the open_ids configured, plus the members of the role's
Feishu chat (HRBOT_HR_CHAT_ID, HRBOT_MANAGERS_CHAT_ID) read live, so giving or taking a role needs no redeploy."""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum

from bot.clock import Clock
from bot.config import Settings
from bot.feishu.client import FeishuClient, FeishuError, FeishuUnreachable, RateLimited

log = logging.getLogger("hrbot.roles")

# A role chat's members are read again after this long: a change shows within a minute, and a busy bot asks
# Feishu about once a minute per role, not once per message.
MEMBERS_FRESH_FOR = timedelta(seconds=60)


class Role(StrEnum):
    HR = "hr"
    MANAGERS = "managers"
    # HRBOT_ADMINS; when unset, the managers (open_ids and chat) are the admins.
    ADMINS = "admins"


class Roles:
    def __init__(self, settings: Settings, feishu: FeishuClient, clock: Clock) -> None:
        self._settings = settings
        self._feishu = feishu
        self._clock = clock
        self._chats: dict[str, tuple[float, frozenset[str]]] = {}

    def _configured(self, role: Role) -> tuple[frozenset[str], str]:
        if role is Role.ADMINS:
            if self._settings.admins:
                return self._settings.admins, ""
            role = Role.MANAGERS
        if role is Role.HR:
            return self._settings.hr_open_ids, self._settings.hrbot_hr_chat_id.strip()
        return self._settings.managers, self._settings.hrbot_managers_chat_id.strip()

    async def members(self, role: Role) -> frozenset[str]:
        open_ids, chat_id = self._configured(role)
        return open_ids | await self._chat_members(chat_id) if chat_id else open_ids

    async def has(self, role: Role, open_id: str) -> bool:
        return bool(open_id) and open_id in await self.members(role)

    async def _chat_members(self, chat_id: str) -> frozenset[str]:
        now = self._clock.timestamp()
        cached = self._chats.get(chat_id)
        if cached is not None and now - cached[0] < MEMBERS_FRESH_FOR.total_seconds():
            return cached[1]
        try:
            members = frozenset(await self._feishu.chat_member_ids(chat_id))
        except (RateLimited, FeishuUnreachable) as exc:
            # Feishu busy or unreachable for a moment: the last members known (none if never read) keep the role.
            log.warning("could not read the members of role chat %s: %s", chat_id, exc)
            return cached[1] if cached is not None else frozenset()
        except FeishuError as exc:
            # A definite refusal (the bot was removed from the chat, the chat is gone): nobody holds the role
            # through it until that is fixed; checked again, and said again, once the window passes.
            log.warning("role chat %s cannot be read (code %s): its members hold no role", chat_id, exc.code)
            members = frozenset()
        self._chats[chat_id] = (now, members)
        return members
