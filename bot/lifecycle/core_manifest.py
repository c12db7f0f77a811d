"""What the core itself needs from Feishu (receiving messages, answering with cards, role chats), and the probes that
several features share (reading names from the directory, reading a chat's members).

Probes never reach a person: a send goes to a chat that does not exist and an update to a message that does not
exist, which Feishu refuses only after checking the scope (a granted scope answers "not found", a missing one
99991672)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING

from bot.feishu.client import FeishuError
from bot.feishu.tenant_errors import BOT_CAPABILITY_OFF, SCOPE_MISSING
from bot.lifecycle.manifest import NOBODY_CHAT, NOBODY_MESSAGE, Manifest, ScopeNeed, Subscription

if TYPE_CHECKING:
    from bot.lifecycle.services import Services

SEND_SCOPES = ("im:message:send_as_bot", "im:message")
UPDATE_SCOPES = ("im:message:send_as_bot", "im:message", "im:message:update")
CHAT_MEMBER_SCOPES = ("im:chat.members:read", "im:chat:readonly", "im:chat.group_info:readonly", "im:chat")
DIRECTORY_SCOPES = ("contact:contact.base:readonly",)
NAME_SCOPES = ("contact:user.base:readonly",)
UPLOAD_SCOPES = ("im:resource", "im:resource:upload")


_EXPECTING_REFUSAL: ContextVar[bool] = ContextVar("expecting_refusal", default=False)


class _ExpectedRefusals(logging.Filter):
    """The client's warning about a failed call is no news when the probe made the call to be refused."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _EXPECTING_REFUSAL.get()


logging.getLogger("hrbot.feishu").addFilter(_ExpectedRefusals())


async def refused_as_expected(services: Services, method: str, path: str, **call: object) -> None:
    """A call meant to be refused for its made-up id: only a refusal about the app's setup is passed on."""
    expecting = _EXPECTING_REFUSAL.set(True)
    try:
        await services.feishu.call(method, path, **call)  # type: ignore[arg-type]
    except FeishuError as exc:
        if exc.code in (SCOPE_MISSING, BOT_CAPABILITY_OFF):
            raise
    finally:
        _EXPECTING_REFUSAL.reset(expecting)


async def probe_send(services: Services) -> str:
    """a send to a chat that does not exist (nobody receives it)"""
    await refused_as_expected(
        services,
        "POST",
        "/open-apis/im/v1/messages",
        params={"receive_id_type": "chat_id"},
        json_body={
            "receive_id": NOBODY_CHAT,
            "msg_type": "text",
            "content": json.dumps({"text": "hrbot doctor"}),
        },
    )
    return "a send to a chat that does not exist"


async def probe_update(services: Services) -> str:
    """an update of a message that does not exist"""
    card = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "hrbot doctor"}]}}
    await refused_as_expected(
        services,
        "PATCH",
        f"/open-apis/im/v1/messages/{NOBODY_MESSAGE}",
        json_body={"content": json.dumps(card)},
    )
    return "an update of a message that does not exist"


def _someone(services: Services) -> str | None:
    settings = services.settings
    people = sorted(settings.hr_open_ids) or sorted(settings.managers) or sorted(settings.admins)
    return people[0] if people else None


async def probe_directory(services: Services) -> str | None:
    """the directory entry of one configured HR member, manager or admin"""
    someone = _someone(services)
    if someone is None:
        return None
    await services.feishu.users_by_open_ids([someone])
    return f"the directory entry of {someone}"


async def probe_names(services: Services) -> str | None:
    """the `name` field of that entry (a field permission: without it Feishu leaves the name out)"""
    someone = _someone(services)
    if someone is None:
        return None
    users = await services.feishu.users_by_open_ids([someone])
    if someone in users and not users[someone].get("name"):
        # A field permission refuses nothing: the field is just left out, so the scope is named here.
        scope = NAME_SCOPES[0]
        link = f"https://open.feishu.cn/app/{services.settings.feishu_app_id}/auth?q={scope}"
        raise FeishuError(
            SCOPE_MISSING,
            f"the name field was left out. One of the following scopes is required: [{scope}]. {link}",
        )
    return f"the name of {someone}"


async def probe_role_chat(services: Services) -> str | None:
    """the members of a configured chat (HRBOT_HR_CHAT_ID, HRBOT_MANAGERS_CHAT_ID, HRBOT_DIGEST_CHAT_IDS, …)"""
    settings = services.settings
    chat = settings.hrbot_hr_chat_id.strip() or settings.hrbot_managers_chat_id.strip()
    if not chat:
        return None
    await services.feishu.chat_member_ids(chat)
    return f"the members of chat {chat}"


async def role_chats(services: Services) -> Mapping[str, Sequence[str]]:
    settings = services.settings
    return {
        "HRBOT_HR_CHAT_ID": [c for c in (settings.hrbot_hr_chat_id.strip(),) if c],
        "HRBOT_MANAGERS_CHAT_ID": [c for c in (settings.hrbot_managers_chat_id.strip(),) if c],
    }


CORE = Manifest(
    scopes=(
        ScopeNeed(
            "every feature: replies and pushed cards",
            "POST /im/v1/messages, POST /im/v1/messages/{id}/reply",
            SEND_SCOPES,
            probe_send,
        ),
        ScopeNeed(
            "every feature: cards updated in place",
            "PATCH /im/v1/messages/{id}",
            UPDATE_SCOPES,
            probe_update,
        ),
        ScopeNeed(
            "roles from a chat (HRBOT_HR_CHAT_ID, HRBOT_MANAGERS_CHAT_ID)",
            "GET /im/v1/chats/{chat_id}/members",
            CHAT_MEMBER_SCOPES,
            probe_role_chat,
        ),
        ScopeNeed(
            "every feature: receiving private messages",
            "event im.message.receive_v1 (p2p)",
            ("im:message.p2p_msg:readonly",),
            note="an event's scope: no API can probe it",
        ),
        ScopeNeed(
            "every feature: being @-mentioned in groups",
            "event im.message.receive_v1 (group)",
            ("im:message.group_at_msg:readonly",),
            note="an event's scope: no API can probe it. Group messages that do not @ the bot are ignored, so "
            "`im:message.group_msg` is not needed",
        ),
    ),
    subscriptions=(
        Subscription("im.message.receive_v1", "接收消息", "every feature: commands"),
        Subscription("card.action.trigger", "卡片回传交互", "card buttons and forms", callback=True),
    ),
    chats=role_chats,
)


async def probe_upload(services: Services) -> str:
    """an upload with no file in it (refused, nothing is stored)"""
    await refused_as_expected(
        services, "POST", "/open-apis/im/v1/files", data={"file_type": "stream", "file_name": ""}
    )
    return "an upload with no file in it"


def directory_needs(need: str) -> tuple[ScopeNeed, ScopeNeed]:
    """Names from the directory (`FeishuClient.names`): the read scope, and the field permission for `name`."""
    return (
        ScopeNeed(need, "GET /contact/v3/users/batch", DIRECTORY_SCOPES, probe_directory),
        ScopeNeed(
            need,
            "GET /contact/v3/users/batch (the name field)",
            NAME_SCOPES,
            probe_names,
            note="A field permission: without it the name is left out, nothing is refused",
        ),
    )
