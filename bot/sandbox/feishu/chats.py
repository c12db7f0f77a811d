"""Group chats (https://open.feishu.cn/document/server-docs/group/chat/list, …/group/chat-member/get).

The groups the bot is in, paged, and a chat's members: people only (the bot is not listed), and only for a chat the
bot is in.
"""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.directory import BOT_OPEN_ID
from bot.sandbox.feishu.common import (
    FIELD_INVALID,
    TENANT_KEY,
    EmulatorState,
    Route,
    fail,
    ok,
)

MEMBER_ID_TYPES = frozenset({"open_id", "union_id", "user_id"})


def routes(api: ChatsApi) -> list[Route]:
    return [
        ("GET", "/open-apis/im/v1/chats", api._chats),
        ("GET", "/open-apis/im/v1/chats/{chat_id}/members", api._chat_members),
    ]


class ChatsApi(EmulatorState):
    async def _chats(self, request: web.Request) -> web.Response:
        """The group chats the bot is in (https://open.feishu.cn/document/server-docs/group/chat/list): groups
        only, no private chats."""
        page_size = min(int(request.query.get("page_size", "20") or 20), 100)
        offset = int(request.query.get("page_token") or 0)
        groups = [c for c in self.directory.chats() if c.chat_type == "group"]
        page = groups[offset : offset + page_size]
        more = offset + page_size < len(groups)
        items = [
            {
                "chat_id": c.chat_id,
                "name": c.name,
                "description": "",
                "external": False,
                "chat_status": "normal",
            }
            for c in page
        ]
        return ok({"items": items, "has_more": more, "page_token": str(offset + page_size) if more else ""})

    async def _chat_members(self, request: web.Request) -> web.Response:
        """Chat members (https://open.feishu.cn/document/server-docs/group/chat-member/get): 该接口不会返回群内的机器人
        成员 (people only), and the bot must be in the chat."""
        try:
            chat = self.directory.chat(request.match_info["chat_id"])
        except KeyError:
            return fail(232011, "the bot is not in the chat")
        # The doc's member_id_type: open_id (default), union_id or user_id; the items carry ids of that type.
        id_type = request.query.get("member_id_type", "open_id")
        if id_type not in MEMBER_ID_TYPES:
            return fail(FIELD_INVALID, f"field validation failed: member_id_type {id_type!r}")
        page_size = min(int(request.query.get("page_size", "20") or 20), 100)
        offset = int(request.query.get("page_token") or 0)
        people = [m for m in chat.members if m != BOT_OPEN_ID and self.directory.has_user(m)]
        page = people[offset : offset + page_size]
        more = offset + page_size < len(people)
        items = [
            {
                "member_id_type": id_type,
                "member_id": self.directory.user_json(m)[id_type],
                "name": self.directory.person(m).name,
                "tenant_key": TENANT_KEY,
            }
            for m in page
        ]
        return ok(
            {
                "items": items,
                "has_more": more,
                "page_token": str(offset + page_size) if more else "",
                "member_total": len(people),
            }
        )
