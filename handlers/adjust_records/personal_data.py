"""What 增减员 holds about a person for 我的数据 and 删除我的数据: who subscribed a chat to the digest, and the
baseline of a digest sent to them privately (`user:<open_id>`: fingerprints of the records it showed)."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from bot.lifecycle.services import Services
from bot.trust.personal_data import Held
from handlers.adjust_records.state import digest_baselines, digest_subscriptions

SUBSCRIBED = "增减员摘要订阅人"
BASELINE = "增减员私聊摘要记录"


async def held(services: Services, open_id: str) -> list[Held]:
    found: list[Held] = []
    async with services.store.engine.connect() as conn:
        chats = (
            await conn.execute(
                select(func.count())
                .select_from(digest_subscriptions)
                .where(digest_subscriptions.c.subscribed_by == open_id)
            )
        ).scalar_one()
        private = (
            await conn.execute(
                select(digest_baselines.c.since).where(digest_baselines.c.destination == _own(open_id))
            )
        ).first()
    if chats:
        found.append(Held(SUBSCRIBED, f"你为 {chats} 个群订阅了增减员摘要", "群取消订阅前一直保留"))
    if private is not None:
        found.append(Held(BASELINE, "上次发给你的摘要包含哪些记录（不含姓名和金额）", "下次摘要时更新"))
    return found


async def erase(services: Services, open_id: str) -> list[str]:
    """The chats stay subscribed (they are the group's), without the subscriber; the private baseline goes."""
    store = services.store
    removed: list[str] = []
    if await store.changed(
        update(digest_subscriptions)
        .where(digest_subscriptions.c.subscribed_by == open_id)
        .values(subscribed_by="")
    ):
        removed.append(SUBSCRIBED)
    if await store.changed(delete(digest_baselines).where(digest_baselines.c.destination == _own(open_id))):
        removed.append(BASELINE)
    return removed


def _own(open_id: str) -> str:
    return f"user:{open_id}"
