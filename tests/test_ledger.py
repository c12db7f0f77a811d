"""Billed calls through the ingress: one ledger row per billed call, quotas and budgets refuse before any provider
call, the breaker opens on an outage and closes after a probe, a crash mid-call leaves a row marked unknown."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.clock import Clock
from bot.lifecycle import app as app_module
from bot.providers.base import ProviderError
from bot.providers.juhe import JuheClient
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR, HR_GROUP, MANAGER, MANAGER_GROUP
from bot.sandbox.juhe import SOCIAL_SECURITY_PATH
from bot.sandbox.tcredit import TcreditEmulator
from bot.trust.ledger import BILLED, CLOSED, PENDING, UNBILLED, UNKNOWN
from cards.text import card_text
from tests import feishu_wire as wire
from tests.conftest import RunningBot, card_buttons, eventually, make_settings, running_bot, wait_for
from tests.test_personal_social import PASSWORD, poll_until, start, submit

XIAOMI = "小米科技有限责任公司"
OTHER = "上海示例信息技术有限公司"
PEOPLE = (EMPLOYEE, HR, MANAGER)


async def rows(bot: RunningBot) -> list[dict]:
    return await bot.app.services.ledger.rows(bot.app.clock.now() - timedelta(days=400))


def juhe_calls(bot: RunningBot) -> int:
    return len(bot.sandbox.juhe.calls_to(SOCIAL_SECURITY_PATH))


async def ask(bot: RunningBot, text: str, **kw) -> str:
    return await bot.reply_text(await bot.say(text, **kw))


async def test_one_row_per_billed_call_none_for_cache_hits_or_refused_input(bot: RunningBot) -> None:
    assert "小米" in await ask(bot, f"企业社保 {XIAOMI}")
    assert "小米" in await ask(bot, f"企业社保 {XIAOMI}", user=HR)  # cached: no call, no row
    await ask(bot, "企业社保 91110108551385082X")  # bad check digit: refused before any call
    await ask(bot, "企业社保 错误码:258504")  # Juhe answers "no result": not charged
    found = await rows(bot)
    assert [(r["api"], r["outcome"]) for r in found] == [
        ("social_security", BILLED),
        ("social_security", UNBILLED),
    ]
    billed, unbilled = found
    assert billed["user_id"] == EMPLOYEE and billed["feature"] == "enterprise_social"
    assert billed["price"] == pytest.approx(0.6) and billed["latency_ms"] is not None
    assert unbilled["error"] == "258504"
    # What was queried is never kept.
    assert not any(XIAOMI in str(value) or "错误码" in str(value) for r in found for value in r.values())
    assert bot.sandbox.juhe.billed_calls[SOCIAL_SECURITY_PATH] == 1


async def test_a_crash_between_the_pending_row_and_the_answer_leaves_a_row_marked_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    settings = make_settings(tmp_path)
    monkeypatch.setattr(app_module, "SHUTDOWN_GRACE_SECONDS", 0.2)
    reached = asyncio.Event()

    async def hangs(self: JuheClient, keyword: str) -> None:
        reached.set()
        await asyncio.Event().wait()  # the process dies here, mid-call

    monkeypatch.setattr(JuheClient, "social_security", hangs)
    async with running_bot(settings, clock) as bot:
        await bot.say(f"企业社保 {XIAOMI}")
        await asyncio.wait_for(reached.wait(), 5)
        assert [r["outcome"] for r in await rows(bot)] == [PENDING]
    # Nothing after the call ran (as after kill -9). A replica started later marks it: no call can still be running.
    monkeypatch.undo()
    clock.advance(timedelta(minutes=11))
    async with running_bot(settings, clock) as bot:
        found = await rows(bot)
        assert [(r["outcome"], r["error"]) for r in found] == [(UNKNOWN, "lost")]
        text = await ask(bot, "用量", user=MANAGER)
        assert "结果未知" in text


async def test_over_the_user_quota_a_clear_card_and_no_provider_call(tmp_path: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path, hrbot_quota_user_daily=1, hrbot_admins=MANAGER)
    async with running_bot(settings, clock) as bot:
        await ask(bot, f"企业社保 {XIAOMI}")
        calls = juhe_calls(bot)
        card = (await bot.replies(await bot.say(f"企业社保 {OTHER}")))[0].content
        text = card_text(card)
        assert "已达今日查询上限" in text and "1 次上限" in text and "重置" in text and "不会收费" in text
        assert f"<at id={MANAGER}></at>" in str(card)  # whom to ask
        assert juhe_calls(bot) == calls and len(await rows(bot)) == 1
        # Someone else still may; the next local day the quota is fresh again.
        assert OTHER[:2] in await ask(bot, f"企业社保 {OTHER}", user=HR)
        clock.advance(timedelta(days=1))
        assert "已达今日查询上限" not in await ask(bot, "企业社保 91110108551385082Q")


async def test_the_chat_quota_counts_everyone_in_the_group(tmp_path: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path, hrbot_quota_chat_daily=1)
    async with running_bot(settings, clock) as bot:
        group = {
            "chat_id": HR_GROUP,
            "chat_type": "group",
            "mentions": [wire.mention("@_user_1", BOT_OPEN_ID, "bot")],
        }
        await ask(bot, f"@_user_1 企业社保 {XIAOMI}", user=HR, **group)
        text = await ask(bot, f"@_user_1 企业社保 {OTHER}", user=EMPLOYEE, **group)
        assert "会话今天的查询已达 1 次上限" in text


async def test_the_budget_warns_the_managers_once_at_80_percent_and_then_refuses(
    tmp_path: Path, clock: Clock
) -> None:
    async with running_bot(make_settings(tmp_path), clock, juhe_monthly_budget=1.5) as bot:

        def warnings() -> list:
            return [m for m in bot.feishu.bot_messages(MANAGER_GROUP) if "预算提醒" in card_text(m.content)]

        await ask(bot, f"企业社保 {XIAOMI}")  # 0.6 of 1.5: 40 %
        await bot.idle()
        assert warnings() == []
        await ask(bot, f"企业社保 {OTHER}", user=HR)  # 1.2: 80 %
        [warning] = await wait_for(warnings)
        assert "1.20 元" in card_text(warning.content) and "80%" in card_text(warning.content)
        calls = juhe_calls(bot)
        text = await ask(bot, "企业社保 91110108551385082Q", user=MANAGER)
        assert "本月查询预算已用完" in text and "不会收费" in text
        assert juhe_calls(bot) == calls
        await bot.idle()
        assert len(warnings()) == 1


async def test_the_breaker_opens_after_n_failures_refuses_at_once_and_closes_after_a_probe(
    tmp_path: Path, clock: Clock
) -> None:
    settings = make_settings(tmp_path, hrbot_breaker_failures=3, hrbot_breaker_cooldown_seconds=120)
    async with running_bot(settings, clock) as bot:
        ledger = bot.app.services.ledger
        for _ in range(3):
            assert "内部错误" in await ask(bot, "企业社保 错误码:258503")  # Juhe's "internal error"
        assert (await ledger.breaker("juhe")).state == "open"
        calls = juhe_calls(bot)
        text = await ask(bot, f"企业社保 {XIAOMI}")
        assert "服务暂时不可用，2 分钟后再试" in text and juhe_calls(bot) == calls
        assert len(await rows(bot)) == 3  # the refused call is no row
        # Cooled down: one probe goes through; it succeeds and the breaker closes.
        clock.advance(timedelta(seconds=121))
        assert "小米" in await ask(bot, f"企业社保 {XIAOMI}")
        assert (await ledger.breaker("juhe")).state == CLOSED
        # A failed probe opens it again at once.
        for _ in range(3):
            await ask(bot, "企业社保 错误码:10014")
        clock.advance(timedelta(seconds=121))
        await ask(bot, "企业社保 错误码:258500")
        assert "服务暂时不可用" in await ask(bot, f"企业社保 {OTHER}")


async def test_an_outage_failing_calls_at_once_is_counted_by_the_breaker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls in flight when a provider goes down fail together: each is counted, each user gets the error card."""
    companies = [XIAOMI, OTHER, "91110108551385082Q"]
    arrived: list[str] = []
    down = asyncio.Event()

    async def times_out(self: JuheClient, keyword: str) -> None:
        arrived.append(keyword)
        if len(arrived) == len(companies):
            down.set()
        await down.wait()
        raise ProviderError("juhe", "unavailable", "服务暂时不可用，请稍后再试", retryable=True)

    monkeypatch.setattr(JuheClient, "social_security", times_out)
    settings = make_settings(tmp_path, hrbot_breaker_failures=len(companies))
    async with running_bot(settings, Clock()) as bot:
        sent = [
            await bot.say(f"企业社保 {company}", user=user)
            for company, user in zip(companies, PEOPLE, strict=True)
        ]
        texts = [await bot.reply_text(message_id) for message_id in sent]
        assert all("服务暂时不可用，请稍后再试" in text for text in texts), texts
        breaker = await bot.app.services.ledger.breaker("juhe")
        assert (breaker.state, breaker.failures) == ("open", len(companies))


async def test_a_caller_over_quota_does_not_take_the_half_open_probe(tmp_path: Path, clock: Clock) -> None:
    settings = make_settings(
        tmp_path, hrbot_quota_user_daily=1, hrbot_breaker_failures=2, hrbot_breaker_cooldown_seconds=120
    )
    async with running_bot(settings, clock) as bot:
        await ask(bot, f"企业社保 {XIAOMI}")  # the employee's one call today
        # Failed calls count against a quota too: two people open the breaker.
        await ask(bot, "企业社保 错误码:258503", user=HR)
        await ask(bot, "企业社保 错误码:258503", user=MANAGER)
        assert (await bot.app.services.ledger.breaker("juhe")).state == "open"
        clock.advance(timedelta(seconds=121))
        assert "已达今日查询上限" in await ask(bot, f"企业社保 {OTHER}")
        # The probe is still free: the next caller makes it, and it closes the breaker.
        assert OTHER[:2] in await ask(bot, f"企业社保 {OTHER}", user="ou_emp_00001")
        assert (await bot.app.services.ledger.breaker("juhe")).state == CLOSED


async def test_a_failed_tcredit_task_is_marked_unbilled(bot: RunningBot) -> None:
    assert isinstance(bot.sandbox.tcredit, TcreditEmulator)
    card = await start(bot, "个人社保 北京")
    await submit(bot, card, {"account": "wrongpass", "password": PASSWORD})
    await poll_until(bot, card, "查询失败")

    async def refunded() -> bool:
        return [(r["api"], r["outcome"]) for r in await rows(bot)] == [("insurance", UNBILLED)]

    await eventually(refunded, what="the failed task's row unbilled")
    [row] = await rows(bot)
    assert row["ref"] and row["price"] == pytest.approx(2.0)


async def test_usage_card_for_admins_with_chart_and_export(bot: RunningBot) -> None:
    await ask(bot, f"企业社保 {XIAOMI}")
    refused = await ask(bot, "用量")
    assert "只有管理员可以查看用量" in refused
    reply = (await bot.replies(await bot.say("用量", user=MANAGER)))[0]
    text = card_text(reply.content)
    assert "用量" in text and "聚合数据" in text and "企业社保" in text and "0.60 元" in text
    charts = [e for e in reply.content["body"]["elements"] if e["tag"] == "chart"]
    assert len(charts) == 1 and len(charts[0]["chart_spec"]["data"]["values"]) == 60
    assert sum(v["yuan"] for v in charts[0]["chart_spec"]["data"]["values"]) == pytest.approx(0.6)
    answer = await bot.feishu.user_clicks(
        reply.message_id, user=MANAGER, value=card_buttons(reply.content)["导出本月明细"]
    )
    assert "正在导出" in answer["toast"]["content"]

    def exported() -> list:
        return [f for f in bot.feishu.files.values() if f[0].startswith("用量-")]

    [(_name, data)] = await wait_for(exported)
    sheet = load_workbook(io.BytesIO(data)).active
    header = [cell.value for cell in sheet[1]]
    row = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert sheet.max_row == 2 and row["结果"] == "已计费"
    # Names, as on the card; the ids only in their own columns at the end, for reconciling.
    assert (row["数据源"], row["接口"], row["功能"], row["使用人"]) == (
        "聚合数据",
        "企业社保缴纳查询",
        "企业社保",
        "张**",
    )
    assert row["使用人 open_id"] == EMPLOYEE and header[-2:] == ["使用人 open_id", "会话 chat_id"]


async def test_two_replicas_share_quotas_and_the_breaker(tmp_path: Path) -> None:
    """Two bots on one database (PostgreSQL and Redis in CI's second run), each with its own emulators."""
    clock = Clock()
    settings = make_settings(tmp_path, hrbot_quota_user_daily=1, hrbot_breaker_failures=2)
    async with running_bot(settings, clock) as first, running_bot(settings, clock) as second:
        assert "小米" in await ask(first, f"企业社保 {XIAOMI}")
        assert "已达今日查询上限" in await ask(second, f"企业社保 {OTHER}")
        assert juhe_calls(second) == 0
        # Failed calls count against a quota too: one each by two people opens the breaker.
        await ask(first, "企业社保 错误码:258503", user=HR)
        await ask(second, "企业社保 错误码:258503", user=MANAGER)
        text = await ask(second, f"企业社保 {OTHER}", user="ou_emp_00001")
        assert "服务暂时不可用" in text and juhe_calls(second) == 1
        assert (await first.app.services.ledger.breaker("juhe")).state == "open"
