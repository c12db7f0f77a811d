"""A half-configured tenant, for the Feishu emulator: one switch per fault that real tenants produce on go-live day.

`TenantFaults.middleware()` sits on the emulator's Open API (after the token check) and answers as Feishu does:
- a scope not granted: HTTP 400, code 99991672, the real message shape (scopes in brackets, the console link) and
  `error.permission_violations`, on every API whose 权限要求 row lists the scope (`SCOPES_BY_API`);
- the bot capability off: 230006 on the bot-info call and on sending (the send doc's error table);
- no published version: `bot.activate_status` 0 (初始化，租户待安装) on the bot-info call;
- a person outside the contacts range: left out of every directory answer;
- the bot not in a chat: the directory's own `bot_removed_from` (chat members answer 232011, sends fail);
- events set to the request URL while the bot wants the long connection: the long-connection endpoint refuses.
Used by tests and by the console (`/sandbox/api/tenant`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.directory import Directory

SCOPE_MISSING = 99991672
BOT_CAPABILITY_OFF = 230006
# The long-connection endpoint's answer when the console's subscription mode is the request URL (named in the
# issue that asked for this emulation; lark-oapi's ws/const.py lists its neighbours 1000040343/44/50).
LONG_CONNECTION_OFF = 1000040345

SEND = ("im:message:send_as_bot", "im:message")
UPDATE = ("im:message:send_as_bot", "im:message", "im:message:update")
UPLOAD = ("im:resource", "im:resource:upload")
CHAT_READ = ("im:chat.members:read", "im:chat:readonly", "im:chat.group_info:readonly", "im:chat")
CONTACT = ("contact:contact.base:readonly",)
DEPARTMENTS = ("contact:contact.base:readonly", "contact:department.organize:readonly")
NAME_FIELD = "contact:user.base:readonly"

# Each API's 权限要求 row (any one suffices), as Feishu's server API reference lists it; the path as the emulator
# routes it. Checked against the API pages cited in deploy/README.md's permission table.
SCOPES_BY_API: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/open-apis/im/v1/messages"): SEND,
    ("POST", "/open-apis/im/v1/messages/{message_id}/reply"): SEND,
    ("PATCH", "/open-apis/im/v1/messages/{message_id}"): UPDATE,
    ("POST", "/open-apis/im/v1/images"): UPLOAD,
    ("POST", "/open-apis/im/v1/files"): UPLOAD,
    ("GET", "/open-apis/im/v1/chats"): ("im:chat:readonly", "im:chat.group_info:readonly", "im:chat"),
    ("GET", "/open-apis/im/v1/chats/{chat_id}/members"): CHAT_READ,
    ("GET", "/open-apis/contact/v3/users/batch"): CONTACT,
    ("POST", "/open-apis/contact/v3/users/batch_get_id"): ("contact:user.id:readonly",),
    ("GET", "/open-apis/contact/v3/users/find_by_department"): DEPARTMENTS,
    ("GET", "/open-apis/contact/v3/departments/{department_id}/children"): DEPARTMENTS,
    ("POST", "/open-apis/compensation/v1/social_archive_adjust_record/query"): (
        "corehr:compensation.social_adjust_record:read",
    ),
    ("GET", "/open-apis/corehr/v1/locations/{location_id}"): (
        "corehr:locations:read",
        "corehr:corehr:readonly",
    ),
    ("GET", "/open-apis/corehr/v1/companies/{company_id}"): ("corehr:corehr:readonly",),
    ("GET", "/open-apis/compensation/v1/social_insurances"): ("corehr:compensation.insurance:read",),
}
# Answers that list people, and where their open_ids are: the contacts range filters them.
_PEOPLE_LISTS = {
    "/open-apis/contact/v3/users/batch": ("items", "open_id"),
    "/open-apis/contact/v3/users/find_by_department": ("items", "open_id"),
    "/open-apis/contact/v3/users/batch_get_id": ("user_list", "user_id"),
}
_SENDS = {("POST", "/open-apis/im/v1/messages"), ("POST", "/open-apis/im/v1/messages/{message_id}/reply")}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def scope_refusal(app_id: str, scopes: tuple[str, ...]) -> web.Response:
    """Feishu's answer to a call whose scope is not granted (see /work/shared/FEISHU.md, go-live facts)."""
    listed = ", ".join(scopes)
    link = f"https://open.feishu.cn/app/{app_id}/auth?q={','.join(scopes)}&op_from=openapi&token_type=tenant"
    log_id = uuid.uuid4().hex[:24].upper()
    body = {
        "code": SCOPE_MISSING,
        "msg": f"Access denied. One of the following scopes is required: [{listed}]."
        f"应用尚未开通所需的应用身份权限：[{listed}]，点击链接申请并开通任一权限即可：{link}",
        "error": {
            "log_id": log_id,
            "permission_violations": [{"type": "action_privilege_required", "subject": s} for s in scopes],
            "troubleshooter": f"排查建议查看(Troubleshooting suggestions): https://open.feishu.cn/search?"
            f"from=openapi&log_id={log_id}&code={SCOPE_MISSING}",
        },
    }
    return web.json_response(body, status=400)


@dataclass
class TenantFaults:
    """The switches; all off is a fully configured tenant."""

    app_id: str
    directory: Directory
    missing_scopes: set[str] = field(default_factory=set)
    bot_capability_off: bool = False
    version_unpublished: bool = False
    outside_contacts: set[str] = field(default_factory=set)
    events_by_request_url: bool = False

    # Switches -----------------------------------------------------------------------------------------------------
    def revoke(self, *scopes: str) -> None:
        self.missing_scopes.update(scopes)

    def bot_leaves(self, chat_id: str) -> None:
        """The bot is not a member of `chat_id` (as if never added), without the removal event."""
        self.directory.bot_removed_from.add(chat_id)

    def clear(self) -> None:
        self.missing_scopes.clear()
        self.outside_contacts.clear()
        self.bot_capability_off = self.version_unpublished = self.events_by_request_url = False
        self.directory.bot_removed_from.clear()

    def state(self) -> dict[str, Any]:
        return {
            "missing_scopes": sorted(self.missing_scopes),
            "bot_capability_off": self.bot_capability_off,
            "version_unpublished": self.version_unpublished,
            "outside_contacts": sorted(self.outside_contacts),
            "bot_not_in": sorted(self.directory.bot_removed_from),
            "events_by_request_url": self.events_by_request_url,
        }

    def apply(self, changes: dict[str, Any]) -> None:
        """The console's form: any of `state()`'s keys, lists as lists."""
        for name in ("bot_capability_off", "version_unpublished", "events_by_request_url"):
            if name in changes:
                setattr(self, name, bool(changes[name]))
        if "missing_scopes" in changes:
            self.missing_scopes = {str(s) for s in changes["missing_scopes"]}
        if "outside_contacts" in changes:
            self.outside_contacts = {str(s) for s in changes["outside_contacts"]}
        if "bot_not_in" in changes:
            self.directory.bot_removed_from.clear()
            self.directory.bot_removed_from.update(str(c) for c in changes["bot_not_in"])

    # The emulator's hook ------------------------------------------------------------------------------------------
    def middleware(self) -> Any:
        @web.middleware
        async def tenant(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.answer(request, handler)

        return tenant

    async def answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else request.path
        path = canonical[canonical.find("/open-apis") :] if "/open-apis" in canonical else canonical
        if path.endswith("/callback/ws/endpoint") and self.events_by_request_url:
            return web.json_response(
                {
                    "code": LONG_CONNECTION_OFF,
                    "msg": "the app does not receive events over the long connection",
                }
            )
        key = (request.method, path)
        if self.bot_capability_off and (path == "/open-apis/bot/v3/info" or key in _SENDS):
            return web.json_response(
                {"code": BOT_CAPABILITY_OFF, "msg": "Bot ability is not activated."}, status=400
            )
        needed = SCOPES_BY_API.get(key)
        if needed is not None and set(needed) <= self.missing_scopes:
            return scope_refusal(self.app_id, needed)
        response = await handler(request)
        if path == "/open-apis/bot/v3/info" and self.version_unpublished:
            return _rewritten(response, _unpublished)
        if path in _PEOPLE_LISTS and (self.outside_contacts or NAME_FIELD in self.missing_scopes):
            items, id_field = _PEOPLE_LISTS[path]
            return _rewritten(response, lambda body: self._filter_people(body, items, id_field))
        return response

    def _filter_people(self, body: dict[str, Any], items: str, id_field: str) -> None:
        data = body.get("data") or {}
        kept = [p for p in data.get(items) or [] if p.get(id_field) not in self.outside_contacts]
        if NAME_FIELD in self.missing_scopes and items == "items":
            # A field permission: the answer comes without the field, nothing is refused.
            kept = [{k: v for k, v in p.items() if k != "name"} for p in kept]
        data[items] = kept


def _unpublished(body: dict[str, Any]) -> None:
    body.setdefault("bot", {})["activate_status"] = 0


def _rewritten(response: web.StreamResponse, change: Callable[[dict[str, Any]], None]) -> web.StreamResponse:
    if not isinstance(response, web.Response) or response.text is None or response.status != 200:
        return response
    body = json.loads(response.text)
    if isinstance(body, dict) and body.get("code", 0) == 0:
        change(body)
    return web.json_response(body, status=response.status)
