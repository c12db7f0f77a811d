"""What one person can push at others: a flood of 企业核验 requests into the managers' chat, and 用量's figures
posted in a group."""

from __future__ import annotations

from sqlalchemy import select

from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, MANAGER, MANAGER_GROUP, Directory
from bot.trust.validators import _ID_CHECK, _ID_WEIGHTS
from cards.text import card_text
from handlers.four_factors.router import MAX_OPEN_PER_REQUESTER
from handlers.four_factors.state import four_factors_requests
from tests import feishu_wire as wire
from tests.conftest import RunningBot, wait_for
from tests.test_four_factors import COMPANY, INLINE, NAME, USCC


def _id_number(serial: int) -> str:
    body = f"11010119690101{serial:03d}"
    return body + _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


async def test_a_flood_of_verification_requests_makes_one_card_per_request_up_to_the_cap(
    bot: RunningBot,
) -> None:
    asked = [await bot.say(INLINE) for _ in range(15)]
    answers = [await bot.reply_text(m) for m in asked]
    assert sum("企业核验申请" in a for a in answers) == 1
    assert sum("同样的核验申请已在等待管理员处理" in a for a in answers) == 14
    # Different people's data, one after another: refused past the cap of open requests.
    for serial in range(1, 6):
        await bot.reply_text(await bot.say(f"企业核验 {COMPANY} {USCC} {NAME} {_id_number(serial)}"))
    await bot.idle()
    async with bot.app.services.store.engine.connect() as conn:
        stored = (await conn.execute(select(four_factors_requests.c.idcard))).scalars().all()
    assert len(stored) == MAX_OPEN_PER_REQUESTER
    posted = [m for m in bot.feishu.bot_messages(MANAGER_GROUP) if "企业核验申请" in card_text(m.content)]
    assert len(posted) == MAX_OPEN_PER_REQUESTER
    refused = card_text(
        (await bot.replies(await bot.say(f"企业核验 {COMPANY} {USCC} {NAME} {_id_number(9)}")))[0].content
    )
    assert f"你已有 {MAX_OPEN_PER_REQUESTER} 条核验申请在等待处理" in refused
    assert "HRBOT" not in refused


async def test_usage_asked_in_a_group_is_answered_privately(bot: RunningBot) -> None:
    await bot.reply_text(await bot.say("企业社保 小米科技有限责任公司"))  # some spend to show
    mentions = [wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")]
    asked = await bot.say(
        "@_user_1 用量", user=MANAGER, chat_id=MANAGER_GROUP, chat_type="group", mentions=mentions
    )
    in_group = await bot.reply_text(asked)
    assert "已私聊你" in in_group and "元" not in in_group
    private = await wait_for(lambda: bot.feishu.bot_messages(Directory.p2p_chat_of(MANAGER)), 1)
    text = card_text(private[0].content)
    assert "本月已花费" in text and "企业社保" in text
    assert all("本月已花费" not in card_text(m.content) for m in bot.feishu.bot_messages(MANAGER_GROUP))
    # Not an admin: refused, in plain words.
    refused = await bot.reply_text(await bot.say("用量", user=EMPLOYEE))
    assert "只有管理员可以查看用量" in refused and "HRBOT" not in refused
