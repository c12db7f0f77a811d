"""`hrbot whoami`: the ids an operator needs for the settings, as the bot's own app sees them (open_ids and chat_ids
are per app): the group chats the bot is in, with their chat_ids, and the people in them, with their open_ids."""

from __future__ import annotations

import sys
from typing import Any

import httpx

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET, Settings
from bot.feishu.client import FeishuClient, FeishuError, FeishuUnreachable
from bot.lifecycle.run_state import bot_address

PAGE_SIZE = 100
NO_LIST_OF_SENDERS = (
    "The bot keeps no list of who messaged it. Someone in none of these chats: look up their open_id by e-mail or "
    "mobile (POST /open-apis/contact/v3/users/batch_get_id, see deploy/README.md), or add them to a chat with the "
    "bot and run this again."
)


async def _pages(feishu: FeishuClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        data = await feishu.call("GET", path, params={**params, "page_size": PAGE_SIZE, "page_token": token})
        items.extend(data.get("items") or [])
        token = str(data.get("page_token") or "")
        if not data.get("has_more") or not token:
            return items


async def _client(settings: Settings) -> FeishuClient | None:
    """The app's Feishu client; for a sandbox, the running sandbox bot's emulator (found through its /healthz)."""
    if not settings.sandbox:
        return FeishuClient(
            base_url=settings.feishu_base_url,
            app_id=settings.feishu_app_id,
            app_secret=settings.feishu_app_secret,
            clock=Clock(),
        )
    address = bot_address(settings)
    bot_url = address.url
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            sandbox = (await http.get(f"{bot_url}/healthz")).json().get("sandbox_url")
    except (httpx.HTTPError, ValueError):
        sandbox = None
    if not sandbox:
        print(
            f"hrbot: no Feishu credentials (FEISHU_APP_ID, FEISHU_APP_SECRET) and no sandbox bot at {bot_url} "
            f"({address.how}); "
            "set the credentials, or start the sandbox with `hrbot serve`",
            file=sys.stderr,
        )
        return None
    return FeishuClient(
        base_url=f"{sandbox}/feishu", app_id=SANDBOX_APP_ID, app_secret=SANDBOX_APP_SECRET, clock=Clock()
    )


async def whoami(settings: Settings) -> int:
    feishu = await _client(settings)
    if feishu is None:
        return 1
    try:
        info = await feishu.bot_info()
        print(f"bot: {info.get('app_name', '')}  open_id {info.get('open_id', '')}")
        chats = await _pages(feishu, "/open-apis/im/v1/chats", {"user_id_type": "open_id"})
        if not chats:
            print(
                "\nThe bot is in no group chat yet: add it to the HR and managers' groups, then run this again."
            )
        for chat in chats:
            chat_id = str(chat.get("chat_id", ""))
            print(f"\nchat {chat_id}  {chat.get('name', '')}")
            members = await _pages(
                feishu, f"/open-apis/im/v1/chats/{chat_id}/members", {"member_id_type": "open_id"}
            )
            for member in members:
                print(f"  {member.get('member_id', '')}  {member.get('name', '')}")
    except FeishuError as exc:
        print(
            f"hrbot: Feishu refused ({exc.code}: {exc.msg}); the app needs the scopes to read its chats and members",
            file=sys.stderr,
        )
        return 1
    except FeishuUnreachable as exc:
        print(f"hrbot: cannot reach Feishu: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        await feishu.aclose()
    print(f"\n{NO_LIST_OF_SENDERS}")
    return 0
