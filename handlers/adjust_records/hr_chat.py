"""A start-up warning: the HR chat (HRBOT_HR_CHAT_ID, whose members are HR) is also a digest chat.

A digest chat shows full names only while every member is HR, and masks them when someone else is in it. When that
chat is the HR chat itself, everyone added to it becomes HR, so the masking never happens: anyone who can add people
to the chat can read the full digest. Allowed (a small team may want exactly that), but said at every start
(docs/security.md).
"""

from __future__ import annotations

import logging

from bot.lifecycle.services import Services
from handlers.adjust_records.router import router
from handlers.adjust_records.settings import settings_of
from handlers.adjust_records.state import subscriptions

log = logging.getLogger("hrbot.adjust_records")


@router.on_startup
async def warn_if_the_hr_chat_gets_digests(services: Services) -> None:
    hr_chat = services.settings.hrbot_hr_chat_id.strip()
    if not hr_chat:
        return
    configured = hr_chat in settings_of(services).digest_chat_ids
    if configured or hr_chat in await subscriptions(services.store):
        where = "HRBOT_DIGEST_CHAT_IDS" if configured else "a digest subscription"
        log.warning(
            "HRBOT_HR_CHAT_ID %s is also a digest chat (%s): everyone added to it counts as HR, so its digest is "
            "never masked; use a separate HR chat or digest chat (docs/security.md)",
            hr_chat,
            where,
        )
