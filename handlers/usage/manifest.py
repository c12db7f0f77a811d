"""用量's needs from the Feishu tenant (bot/lifecycle/manifest.py): names of the top spenders, the export, the managers' chat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.lifecycle.core_manifest import UPLOAD_SCOPES, directory_needs, probe_upload
from bot.lifecycle.manifest import Manifest, ScopeNeed
from bot.lifecycle.services import Services
from handlers.usage.settings import UsageSettings


async def chats(services: Services) -> Mapping[str, Sequence[str]]:
    chat = services.settings_of(UsageSettings).hrbot_manager_chat_id.strip()
    return {"HRBOT_MANAGER_CHAT_ID": [chat] if chat else []}


MANIFEST = Manifest(
    scopes=(
        *directory_needs("用量: names of the top users"),
        ScopeNeed("用量: 导出 Excel", "POST /im/v1/files, then a file message", UPLOAD_SCOPES, probe_upload),
    ),
    chats=chats,
)
