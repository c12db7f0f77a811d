"""帮助's needs from the Feishu tenant (bot/lifecycle/manifest.py): the events that greet people."""

from __future__ import annotations

from bot.lifecycle.manifest import Manifest, Subscription
from handlers.help.router import BOT_ADDED, MENU, P2P_CHAT_ENTERED

MANIFEST = Manifest(
    subscriptions=(
        Subscription(P2P_CHAT_ENTERED, "用户进入与机器人的会话", "帮助: a welcome in a new private chat"),
        Subscription(BOT_ADDED, "机器人进群", "帮助: a welcome in a group"),
        Subscription(MENU, "机器人自定义菜单", "帮助: the bot's menu (optional)"),
    ),
)
