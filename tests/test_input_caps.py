"""Issue 13 item 2: oversized arguments and form fields are refused before any provider call, with the limit named."""

from __future__ import annotations

import logging

import pytest

from bot.ingress.events import MAX_ARGUMENT_CHARS
from bot.trust.validators import MAX_COMPANY_CHARS
from cards.text import card_text
from handlers.personal_social.router import MAX_FIELD_CHARS
from tests.conftest import RunningBot
from tests.test_personal_social import PASSWORD, start, submit


def provider_calls(bot: RunningBot) -> int:
    sandbox = bot.sandbox
    assert sandbox is not None
    return len(sandbox.juhe.calls) + sandbox.tcredit.created_tasks + sandbox.tcredit.codes_received


@pytest.mark.parametrize("command", ["小微企业", "企业社保", "企业核验", "个人社保"])
async def test_a_huge_argument_gets_the_limit_and_no_provider_call(
    bot: RunningBot, command: str, caplog: pytest.LogCaptureFixture
) -> None:
    keyword = "星" * 100_000
    with caplog.at_level(logging.DEBUG):
        text = await bot.reply_text(await bot.say(f"{command} {keyword}"))
        await bot.idle()
    assert f"最多 {MAX_ARGUMENT_CHARS} 个字" in text and "不会收费" in text
    assert provider_calls(bot) == 0
    assert "星" * 60 not in caplog.text  # at most a short prefix of what the user typed reaches a log


@pytest.mark.parametrize("command", ["小微企业", "企业社保"])
async def test_a_company_name_over_its_cap_is_refused_before_the_billed_call(
    bot: RunningBot, command: str
) -> None:
    name = "星河" * 60 + "有限公司"  # 124 characters: under the command cap, over the company-name cap
    text = await bot.reply_text(await bot.say(f"{command} {name}"))
    await bot.idle()
    assert f"最长 {MAX_COMPANY_CHARS} 个字" in text
    assert name not in text  # the usage card does not echo the oversized input
    assert provider_calls(bot) == 0


async def test_an_oversized_login_field_never_reaches_tcredit(bot: RunningBot) -> None:
    card = await start(bot, "个人社保 北京")
    answer = await submit(bot, card, {"account": "a" * (MAX_FIELD_CHARS + 1), "password": PASSWORD})
    assert (
        answer["toast"]["type"] == "error" and f"最长 {MAX_FIELD_CHARS} 个字符" in answer["toast"]["content"]
    )
    assert f"最长 {MAX_FIELD_CHARS} 个字符" in card_text(answer["card"]["data"])
    assert provider_calls(bot) == 0
    # The same form with sensible values goes through: the cap is what stopped it.
    await submit(bot, card, {"account": "zhangsan", "password": PASSWORD})
    assert bot.sandbox.tcredit.created_tasks == 1  # type: ignore[union-attr]
