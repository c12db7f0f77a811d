"""Answers that cost nothing still count: a not-found answer is kept for a while, and every provider call, charged or
not, counts against the person's daily quota (docs/security.md)."""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock
from bot.providers.juhe import SOCIAL_SECURITY_PATH
from bot.sandbox.directory import HR
from handlers.enterprise_social.router import NOT_FOUND_TTL
from tests.conftest import make_settings, running_bot


async def test_unknown_companies_are_answered_from_the_cache_and_count_against_the_quota(
    tmp_path: Path, clock: Clock
) -> None:
    settings = make_settings(tmp_path, hrbot_quota_user_daily=3)
    async with running_bot(settings, clock) as bot:

        def calls() -> int:
            return len(bot.sandbox.juhe.calls_to(SOCIAL_SECURITY_PATH))

        async def ask(text: str, user: str | None = None) -> str:
            kw = {"user": user} if user else {}
            return await bot.reply_text(await bot.say(text, **kw))

        # The same unknown company 25 times: one call, the rest from the cache (for everyone).
        for _ in range(25):
            assert "未查询到该企业的社保信息" in await ask("企业社保 不存在的企业有限公司")
        assert "未查询到该企业的社保信息" in await ask("企业社保 不存在的企业有限公司", user=HR)
        assert calls() == 1
        # 25 different unknown companies: each is a call, and each counts though none is charged.
        for n in range(2, 26):
            await ask(f"企业社保 不存在的企业{n}有限公司")
        assert calls() == 3
        assert "今天的查询已达 3 次上限" in await ask("企业社保 不存在的企业99有限公司")
        # The not-found answer is asked again once it is old.
        clock.advance(NOT_FOUND_TTL)
        await ask("企业社保 不存在的企业有限公司", user=HR)
        assert calls() == 4
