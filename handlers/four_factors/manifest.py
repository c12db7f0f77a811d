"""企业核验's needs from the Feishu tenant (bot/lifecycle/manifest.py): requesters' names, the managers' chat, its Juhe key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.lifecycle.core_manifest import directory_needs
from bot.lifecycle.manifest import Manifest
from bot.lifecycle.services import Services
from handlers.four_factors.settings import FourFactorsSettings


async def chats(services: Services) -> Mapping[str, Sequence[str]]:
    chat = services.settings_of(FourFactorsSettings).hrbot_manager_chat_id.strip()
    return {"HRBOT_MANAGER_CHAT_ID": [chat] if chat else []}


MANIFEST = Manifest(
    scopes=directory_needs("企业核验: requesters' names"),
    chats=chats,
    provider_keys=("JUHE_FOUR_FACTORS_KEY",),
)
