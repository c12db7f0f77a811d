"""个人信息's needs from the Feishu tenant (bot/lifecycle/manifest.py): names in 审计, the export, the leaver event."""

from __future__ import annotations

from bot.lifecycle.core_manifest import UPLOAD_SCOPES, directory_needs, probe_upload
from bot.lifecycle.manifest import Manifest, ScopeNeed, Subscription

MANIFEST = Manifest(
    scopes=(
        *directory_needs("审计: names"),
        ScopeNeed("审计: 导出 Excel", "POST /im/v1/files, then a file message", UPLOAD_SCOPES, probe_upload),
    ),
    subscriptions=(
        Subscription(
            "contact.user.deleted_v3",
            "员工离职",
            "个人信息: a person who leaves is forgotten",
            note="subscribe in 事件与回调; the event comes only for people in the contacts range, with a contact "
            "read scope (as above)",
        ),
    ),
)
