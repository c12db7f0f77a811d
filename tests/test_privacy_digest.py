"""删除我的数据 and 我的数据 cover the digest too: who subscribed a chat, and the baseline of a digest sent privately."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.sandbox.directory import HR, HR_GROUP, MANAGER_GROUP
from cards.text import card_text
from handlers.adjust_records.state import digest_baselines, digest_subscriptions, subscriptions
from tests.conftest import eventually, make_settings, running_bot, wait_for
from tests.test_adjust_records_hr import HR_P2P, _group_say
from tests.test_privacy import card_of, click


async def test_erasing_my_data_clears_my_digest_subscription_and_private_baseline(
    tmp_path: Path, clock
) -> None:
    async with running_bot(make_settings(tmp_path), clock, hrbot_digest_chat_ids=MANAGER_GROUP) as bot:
        store = bot.app.services.store
        assert "已订阅" in await bot.reply_text(
            await _group_say(bot, "订阅增减员摘要", user=HR, chat_id=HR_GROUP)
        )
        # An on-demand digest asked for privately leaves a baseline under the person's open_id.
        await bot.say("增减员摘要", user=HR)
        await wait_for(
            lambda: [m for m in bot.feishu.bot_messages(HR_P2P) if "社保增减员摘要" in card_text(m.content)]
        )

        async def baselines() -> list[str]:
            async with store.engine.connect() as conn:
                return list((await conn.execute(select(digest_baselines.c.destination))).scalars().all())

        assert await eventually(baselines, what="the private digest's baseline") == [f"user:{HR}"]

        mine = await bot.reply_text(await bot.say("我的数据", user=HR))
        assert "增减员摘要订阅人：你为 1 个群订阅了增减员摘要" in mine
        assert "增减员私聊摘要记录" in mine

        confirm = await card_of(bot, "删除我的数据", user=HR)
        await click(bot, confirm, "确认删除", user=HR)
        done = card_text(confirm.content)
        assert "增减员摘要订阅人" in done and "增减员私聊摘要记录" in done
        # The group keeps its subscription; nothing names the person any more.
        assert await subscriptions(store) == {HR_GROUP: ""}
        async with store.engine.connect() as conn:
            assert (await conn.execute(select(digest_baselines))).all() == []
            rows = (await conn.execute(select(digest_subscriptions))).all()
        assert HR not in str(rows)
        after = await bot.reply_text(await bot.say("我的数据", user=HR))
        assert "增减员摘要订阅人" not in after and "增减员私聊摘要记录" not in after

        # Removing the bot from that group now tells HR (the subscriber is no longer known).
        status, _ = await bot.feishu.remove_bot(HR_GROUP, operator=HR)
        assert status == 200
        notices = await wait_for(
            lambda: [m for m in bot.feishu.bot_messages(HR_P2P) if "订阅已取消" in card_text(m.content)]
        )
        assert notices
