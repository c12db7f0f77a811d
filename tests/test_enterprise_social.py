"""企业社保: signed, encrypted messages in, cards out, against the Juhe emulator; billed calls counted there."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.providers.juhe import JuheSettings, SocialSecurity, SocialSecurityReport, YearReport, from_settings
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR, HR_GROUP
from bot.sandbox.juhe import SOCIAL_SECURITY_PATH
from cards.enterprise_social import NO_DATA, report_card
from cards.text import card_text
from tests import feishu_wire as wire
from tests.conftest import RunningBot, make_settings, running_bot

XIAOMI = "小米科技有限责任公司"


def billed(bot: RunningBot) -> int:
    return bot.sandbox.juhe.billed_calls[SOCIAL_SECURITY_PATH]


async def ask(bot: RunningBot, text: str, **kw) -> dict:
    return (await bot.replies(await bot.say(text, **kw)))[0].content


def panels(card: dict) -> list[dict]:
    return [e for e in card["body"]["elements"] if e.get("tag") == "collapsible_panel"]


def rows_by_insurance(table: dict) -> dict[str, dict]:
    return {row["insurance"]: row for row in table["rows"]}


def root_tables(card: dict) -> list[dict]:
    return [e for e in card["body"]["elements"] if e.get("tag") == "table"]


async def test_seed_example_enterprise_newest_year_first_and_open(bot: RunningBot) -> None:
    card = await ask(bot, f"企业社保 {XIAOMI}")
    text = card_text(card)
    assert card["header"]["title"]["content"] == f"企业社保缴纳 · {XIAOMI}"
    assert card["header"]["template"] == "green"
    # The answer first: the newest year's headline figures and how old they are.
    assert text.split("\n")[1].startswith("**2019 年报：参保 168 人 · 本期实际缴费 ")
    assert "2020-06-24 发布，约 6 年前" in text
    # The newest year is the card's one table (Feishu allows tables only at the root); older years are panels.
    assert "**2019 年报** · 2020-06-24 发布" in text
    older = panels(card)
    assert [p["header"]["title"]["content"].split(" 年报")[0] for p in older] == ["**2018"]
    assert [p["expanded"] for p in older] == [False]
    assert "养老：人数" in card_text({"body": {"elements": older[0]["elements"]}})
    assert len(root_tables(card)) == 1

    y2019 = rows_by_insurance(root_tables(card)[0])
    assert list(y2019) == ["养老", "医疗", "失业", "工伤", "生育"]
    assert y2019["养老"] == {
        "insurance": "养老",
        "people": 168,
        "base": 2938388.0,
        "paid": 470142.08,
        "arrears": 0.0,
    }
    assert y2019["医疗"]["paid"] == 339317.95 and y2019["医疗"]["base"] == 3141832.0
    assert y2019["失业"]["paid"] == 23507.04 and y2019["失业"]["base"] == 2938388.0
    assert y2019["工伤"]["paid"] == 20653.92
    assert "base" not in y2019["工伤"]  # the API doc's "-": left out of its row, an empty number cell
    assert "养老 | 168 | 2,938,388.00 | 470,142.08 | 0.00" in text and "2020-06-24" in text
    assert "数据来源：聚合数据" in text and "查询时间：" in text
    assert billed(bot) == 1


async def test_query_time_is_in_the_configured_time_zone(tmp_path, clock) -> None:
    settings = make_settings(tmp_path, hrbot_timezone="Asia/Tokyo")
    async with running_bot(settings, clock) as bot:
        text = card_text(await ask(bot, f"企业社保 {XIAOMI}"))
        local = clock.now().astimezone(settings.tz)
        assert f"查询时间：{local:%Y-%m-%d %H}" in text


async def test_the_same_company_twice_costs_one_call(bot: RunningBot, clock) -> None:
    first = card_text(await ask(bot, f"企业社保 {XIAOMI}"))
    clock.advance(timedelta(hours=1))
    second = card_text(await ask(bot, f"企业社保  {XIAOMI} ", user=HR))
    assert billed(bot) == 1
    assert "470,142.08" in second and "缓存" in second
    # 查询时间 is when the data was fetched, not when the cache was read.
    assert first.split("查询时间：")[1][:16] == second.split("查询时间：")[1][:16]


async def test_asked_by_credit_code_then_by_name_is_one_call(bot: RunningBot) -> None:
    by_code = card_text(await ask(bot, "企业社保 91110108551385082q"))
    assert XIAOMI in by_code and "470,142.08" in by_code
    await ask(bot, f"企业社保 {XIAOMI}")
    assert billed(bot) == 1


async def test_the_cache_expires_after_the_configured_hours(tmp_path, clock) -> None:
    # The database cache follows the bot's clock (Redis would expire in real time).
    settings = make_settings(tmp_path, hrbot_cache_hours=2, hrbot_redis_url="")
    async with running_bot(settings, clock) as bot:
        await ask(bot, f"企业社保 {XIAOMI}")
        clock.advance(timedelta(hours=2, minutes=1))
        text = card_text(await ask(bot, f"企业社保 {XIAOMI}"))
        assert billed(bot) == 2 and "缓存" not in text


async def test_not_found_says_to_check_the_full_name(bot: RunningBot) -> None:
    card = await ask(bot, "企业社保 不存在的示例有限公司")
    text = card_text(card)
    assert card["header"]["template"] == "red"
    assert "【查询失败】" in text
    assert "未查询到该企业的社保信息，请检查企业名称是否为全称后重试" in text
    assert "不存在的示例有限公司" in text


async def test_forced_258504_from_the_emulator(bot: RunningBot) -> None:
    text = card_text(await ask(bot, "企业社保 错误码:258504"))
    assert "【查询失败】" in text and "未查询到该企业的社保信息" in text


async def test_every_error_is_a_short_message_without_the_key(bot: RunningBot) -> None:
    expected = {
        258500: "社保查询超时，请稍后再试",
        258503: "社保查询服务内部错误",
        10001: "查询服务配置有误，请联系管理员",
        10012: "今日查询次数已用完",
    }
    for code, message in expected.items():
        card = await ask(bot, f"企业社保 错误码:{code}")
        assert message in card_text(card)
        assert "sandbox-juhe-ss" not in json.dumps(card, ensure_ascii=False)
    assert billed(bot) == 0


async def test_provider_down_is_service_unavailable(bot: RunningBot) -> None:
    services = bot.app.services
    dead = services.settings_of(JuheSettings).model_copy(update={"juhe_base_url": "http://127.0.0.1:9"})
    services.providers["juhe"] = from_settings(dead)  # nothing listens there; closed when the bot stops
    text = card_text(await ask(bot, f"企业社保 {XIAOMI}"))
    assert "【查询失败】" in text and "服务暂时不可用，请稍后再试" in text


async def test_invalid_credit_code_is_refused_without_a_call(bot: RunningBot) -> None:
    juhe = bot.sandbox.juhe
    before = (dict(juhe.billed_calls), len(juhe.calls))
    text = card_text(await ask(bot, "企业社保 91110108551385082A"))
    assert "【查询失败】" in text and "不是有效的统一社会信用代码" in text
    text = card_text(await ask(bot, "企业社保 110108012660423"))
    assert "不是有效的注册号" in text
    assert (dict(juhe.billed_calls), len(juhe.calls)) == before == ({}, 0)


async def test_no_keyword_shows_how_to_ask(bot: RunningBot) -> None:
    card = await ask(bot, "企业社保")
    text = card_text(card)
    assert card["header"]["template"] == "blue"
    assert "用法" in text and "企业社保 小米科技有限责任公司" in text
    assert bot.sandbox.juhe.calls == []


async def test_in_a_group_when_mentioned(bot: RunningBot) -> None:
    mentions = [wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")]
    card = await ask(
        bot, f"@_user_1 企业社保 {XIAOMI}", user=HR, chat_id=HR_GROUP, chat_type="group", mentions=mentions
    )
    assert "470,142.08" in card_text(card)


async def test_help_lists_the_command(bot: RunningBot) -> None:
    text = card_text(await ask(bot, "帮助", user=EMPLOYEE))
    assert "**企业社保**" in text and "**企业核验**" in text


async def test_a_command_typed_without_a_space_or_with_a_colon_runs(bot: RunningBot) -> None:
    together = card_text(await ask(bot, f"企业社保{XIAOMI}"))
    colon = card_text(await ask(bot, f"企业社保：{XIAOMI}"))
    assert together.startswith(f"【企业社保缴纳 · {XIAOMI}】") and colon.startswith(
        f"【企业社保缴纳 · {XIAOMI}】"
    )
    assert "结果来自缓存" in colon
    assert bot.sandbox.juhe.calls and billed(bot) == 1, "the second answer came from the cache"


def test_a_missing_figure_reads_the_same_in_the_table_and_the_older_years() -> None:
    """The newest year's table and the older years' lines name a missing figure with one word (未披露)."""
    gaps = SocialSecurity(**{name: "-" for name in SocialSecurity.__dataclass_fields__})
    report = SocialSecurityReport(
        XIAOMI, [YearReport(str(year), f"{year + 1}-06-24", XIAOMI, gaps) for year in (2024, 2023)]
    )
    text = card_text(report_card(report, queried_at=datetime(2026, 11, 22, 9, 0)))
    assert NO_DATA == "未披露" and "无数据" not in text
    assert f"表中没有数字的格子：年报{NO_DATA}" in text
    assert f"养老：人数 {NO_DATA} · 缴费基数 {NO_DATA}" in text
