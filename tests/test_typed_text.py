"""What people type, as an attacker types it: ID numbers and phones with spaces or +86 never reach a log line in
full, a 600 KB action id is logged as a short prefix, and junk (web addresses, markup) is no company name."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.observability.logs import MaskingFormatter
from bot.providers.juhe import MICRO_ENT_QUERY_PATH, SOCIAL_SECURITY_PATH
from bot.sandbox.directory import EMPLOYEE
from tests.conftest import RunningBot


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """Every log line as the bot writes it (through its masking formatter), DEBUG and up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_spaced_id_numbers_and_phones_are_masked_in_every_log_line(bot: RunningBot, written) -> None:
    for typed in (
        "企业社保 王小明 110101 19900307 123X 有限公司",
        "企业社保 联系 +86 138 0013 8000 有限公司",
        "企业社保 联系 86-138-0013-8000 有限公司",
        "企业社保 1101-0119-9003-0712-3X 有限公司",
    ):
        await bot.reply_text(await bot.say(typed))
    await bot.idle()
    logged = written.getvalue()
    assert "juhe" in logged and "110***********123X" in logged  # the lines are there, masked
    for fragment in ("19900307", "0013 8000", "0013-8000", "00138000", "0119-9003"):
        assert fragment not in logged, fragment


async def test_a_huge_unknown_action_id_is_logged_as_a_short_prefix(bot: RunningBot, written) -> None:
    message = (await bot.replies(await bot.say("帮助")))[0]
    huge = "x" * 600_000
    answer = await bot.click(message, user=EMPLOYEE, value={"action": huge})
    assert "这个按钮已失效" in answer["toast"]["content"]
    lines = [line for line in written.getvalue().splitlines() if "unknown-action" in line]
    assert lines and all(len(line) < 500 for line in lines)
    assert "(600000 chars)" in lines[0]


@pytest.mark.parametrize(
    "command, path",
    [("企业社保", SOCIAL_SECURITY_PATH), ("小微企业", MICRO_ENT_QUERY_PATH)],
)
async def test_web_addresses_and_markup_are_no_company_name(bot: RunningBot, command: str, path: str) -> None:
    for junk in (
        "HTTPS://EVIL.EXAMPLE/LOGIN",
        "<at id=all></at>",
        "www.evil.example 有限公司",
        "[点此](x) 公司",
    ):
        text = await bot.reply_text(await bot.say(f"{command} {junk}"))
        assert "不能有网址" in text, text
    assert bot.sandbox.juhe.calls_to(path) == []
    assert "小米" in await bot.reply_text(await bot.say("企业社保 小米科技有限责任公司"))
