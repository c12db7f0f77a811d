"""Issue 13 item 1: what users type and providers return is data, never card markup.

Arbitrary strings with Feishu's tags, links and Markdown go through every command and form field (the unknown
command included) over the signed, encrypted ingress; no card the bot sends or patches, in any version, carries an
`<at>` the bot did not write itself, a link, a font or link tag, or Markdown emphasis the input brought along.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox.directory import EMPLOYEE
from cards import four_factors, micro_ent, personal_social
from cards.adjust_records import DigestView, RecordLine, digest_card
from cards.safe import md, unescape
from handlers.micro_ent.router import poll_round
from tests.conftest import RunningBot
from tests.test_four_factors import ID_NUMBER, NAME, USCC
from tests.test_personal_social import start, submit

T = TypeVar("T")

ATTACKS = [
    "<at id=all></at>",
    '<at user_id="all">所有人</at>',
    "[点此](https://evil.example)",
    "https://evil.example/login",
    "<font color=red>",
    "</font>",
    "<link url='https://evil.example'>",
    "<a href='https://evil.example'>",
    "**",
    "~~",
    "`",
    "\\",
    "&#60;at id=all&#62;",
    "&lt;font&gt;",
    "# ",
    "- ",
    "![x](img_v2_x)",
    "星河科技有限公司",
    " ",
]
untrusted = st.lists(st.sampled_from(ATTACKS) | st.text(max_size=6), min_size=1, max_size=6).map("".join)
TARGETS = [
    "unknown",
    "企业社保",
    "小微企业",
    "企业核验",
    "企业核验 form",
    "个人社保",
    "个人社保 form",
    "增减员",
]

# The only tag the bot writes itself: its @ of the requester on the micro-enterprise notice.
OWN_MENTION = f"<at id={EMPLOYEE}></at>"
FORBIDDEN = re.compile(r"<\s*(at|font|link|a)\b|\]\s*\(|://", re.IGNORECASE)


def markdown_texts(node: Any) -> list[str]:
    """Every string Feishu would read as Markdown: markdown/lark_md elements and panel titles."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("tag") in ("markdown", "lark_md") and isinstance(node.get("content"), str):
            found.append(node["content"])
        for value in node.values():
            found.extend(markdown_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(markdown_texts(value))
    return found


def injected(card: Any, typed: str) -> list[str]:
    """Markup in `card` that came from `typed`: tags, links, or the typed text itself appearing unescaped."""
    problems = []
    for content in markdown_texts(card):
        raw = content.replace(OWN_MENTION, "")
        if FORBIDDEN.search(raw):
            problems.append(raw)
        # Escaping must not lose anything: where the typed text shows, it shows exactly as typed.
        if len(typed) >= 4 and md(typed) not in content and typed in unescape(content) and typed != md(typed):
            problems.append(raw)
    return problems


async def test_untrusted_text_never_becomes_card_markup(bot: RunningBot) -> None:
    loop = asyncio.get_running_loop()
    sandbox = bot.sandbox
    assert sandbox is not None
    seen = sandbox.feishu.subscribe()
    checked: list[int] = []

    def run(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=30)

    async def drive(target: str, text: str) -> list[dict[str, Any]]:
        """Put `text` where `target` takes user input; the cards and answers that came back."""
        answers: list[dict[str, Any]] = []
        if target == "unknown":
            await bot.replies(await bot.say(text.strip() or "?"))
        elif target == "企业核验":
            await bot.replies(await bot.say(f"企业核验 {text} {USCC} {NAME} {ID_NUMBER}"))
        elif target == "企业核验 form":
            form_card = (await bot.replies(await bot.say("企业核验")))[0]
            value = {"action": four_factors.SUBMIT}
            for form in (
                {"entname": text, "entmark": USCC, "realname": NAME, "idcard": ID_NUMBER},
                {"entname": text, "entmark": text, "realname": text, "idcard": text},
            ):
                answers.append(
                    await bot.feishu.user_clicks(
                        form_card.message_id, user=EMPLOYEE, value=value, form_value=form
                    )
                )
        elif target == "个人社保 form":
            card = await start(bot, "个人社保 北京")
            answers.append(await submit(bot, card, {"account": text, "password": text}))
        elif target == "小微企业":
            await bot.replies(await bot.say(f"小微企业 {text}"))
            sandbox.juhe.complete_all()
            await poll_round(
                bot.app.services
            )  # the finished notice @-mentions the requester and names the company
        else:
            await bot.replies(await bot.say(f"{target} {text}"))
        await bot.idle()
        return answers

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(target=st.sampled_from(TARGETS), text=untrusted)
    def through_every_input(target: str, text: str) -> None:
        answers = run(drive(target, text))
        cards = [a["card"]["data"] for a in answers if isinstance(a.get("card"), dict)]
        while not seen.empty():
            cards.append(seen.get_nowait()["message"]["content"])
        for card in cards:
            assert not injected(card, text), (target, text, injected(card, text))
        checked.append(len(cards))

    await asyncio.to_thread(through_every_input)
    sandbox.feishu.unsubscribe(seen)
    assert len(checked) == 40 and all(checked)  # every example produced cards to look at


def test_provider_text_is_escaped_in_every_builder() -> None:
    """Provider answers are untrusted too: the builders that show them escape them."""
    evil = "<at id=all></at>[点此](https://evil.example)<font color=red>**x**</font>"
    now = datetime(2026, 11, 22, 9, 0)
    cards = [
        micro_ent.result_card({"name": evil, "support_content": evil}, now, evil),
        micro_ent.failed_card(evil, evil, EMPLOYEE),
        micro_ent.finished_notice(EMPLOYEE, evil, "已完成"),
        micro_ent.finished_notice(evil, evil, "已完成"),  # a requester that is no open_id gets no mention
        personal_social.progress_card(evil, evil),
        personal_social.failed_card(evil, evil),
        personal_social.form_card(evil, [("1", evil)], "1", [], 1, problem=evil),
        personal_social.city_card([(evil, "1")], [(evil, evil)], 1),
        personal_social.result_card(evil, {"company": evil, "payStatus": evil}, {}, [evil], now, evil),
        digest_card(
            DigestView(
                lines=[
                    RecordLine(
                        "k", "ou_x", evil, "increase", "2026-11", evil, evil, evil, (evil,), evil, evil
                    )
                ],
                current_month="2026-11",
                full=True,
                failed_parts=[evil],
            ),
            queried_at=now,
        ),
    ]
    for card in cards:
        assert not injected(card, evil), json.dumps(card, ensure_ascii=False)[:400]
    # The escaped text still reads as exactly what the provider said.
    assert evil in unescape(json.dumps(cards[4], ensure_ascii=False))
