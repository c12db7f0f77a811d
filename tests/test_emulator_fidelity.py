"""Round two of the emulator's fidelity (issue 26): each rule Feishu documents, broken once, answered with Feishu's code.

Codes and rules are cited from Feishu's pages where the rule is written (card_rules.py and bot/sandbox/feishu/ name
them) and from /work/shared/FEISHU.md's "Facts gathered for go-live and fidelity".
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.client import FeishuClient
from bot.providers.juhe import SocialSecurity, SocialSecurityReport, YearReport
from bot.sandbox.card_rules import (
    AT_UNKNOWN_USER,
    CELL_KEY,
    CELL_TYPE,
    CHART_INVALID,
    IMAGE_UNKNOWN,
    CardViolation,
    validate_card,
    violation,
)
from bot.sandbox.directory import EMPLOYEE, HR_GROUP, Directory, email_of, union_of
from bot.sandbox.feishu import FeishuEmulator
from cards import enterprise_social
from cards.common import button, card, image, markdown, table

CARD = card("测试", "blue", [markdown("你好")])
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def refused(card_json: dict[str, Any]) -> CardViolation:
    problem = violation(card_json)
    assert problem is not None, "the card was accepted"
    return problem


def inner(problem: CardViolation) -> int:
    return problem.inner_code


# Table cells (FEISHU.md: a row key that is no column → 200915; a value of the wrong type → 200914) ---------------
def test_text_or_null_in_a_number_column_is_refused_and_a_number_passes() -> None:
    def with_cell(value: Any) -> dict[str, Any]:
        shaped = table([("k", "险种"), ("n", "人数")], [{"k": "养老"}], numbers={"n": 0})
        shaped["rows"][0]["n"] = value
        return card("t", "blue", [shaped])

    validate_card(with_cell(12))
    assert inner(refused(with_cell("12"))) == CELL_TYPE
    assert inner(refused(with_cell(None))) == CELL_TYPE
    assert inner(refused(with_cell(True))) == CELL_TYPE


def test_a_row_key_that_is_no_column_is_refused() -> None:
    shaped = table([("k", "险种")], [{"k": "养老", "extra": "x"}])
    assert inner(refused(card("t", "blue", [shaped]))) == CELL_KEY


def test_a_number_column_with_precision_over_ten_is_refused() -> None:
    shaped = table([("n", "数")], [{"n": 1.5}], numbers={"n": 11})
    assert refused(card("t", "blue", [shaped])).path.endswith("format.precision")


def test_the_enterprise_card_with_a_missing_figure_passes_and_shows_an_empty_cell() -> None:
    """The 工伤 row's base missing from the report (the provider gives "" for it)."""
    figures = SocialSecurity(**{f.name: "47.014208万元" for f in dataclasses.fields(SocialSecurity)})
    figures = dataclasses.replace(figures, injury_insurance_amount="")
    report = SocialSecurityReport("小米科技有限责任公司", [YearReport("2024", "2025-06-24", "小米", figures)])
    shown = enterprise_social.report_card(report, queried_at=datetime(2026, 11, 23, 10, 0))
    validate_card(shown)
    rows = next(e for e in _walk(shown) if e.get("tag") == "table")["rows"]
    injury = next(r for r in rows if r["insurance"] == "工伤")
    assert "base" not in injury and injury["paid"] == 470142.08
    assert all("base" in r for r in rows if r["insurance"] != "工伤")


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


# Components --------------------------------------------------------------------------------------------------------
def test_element_id_starts_with_a_letter_is_at_most_20_characters_and_unique() -> None:
    def with_ids(*ids: str) -> dict[str, Any]:
        return card("t", "blue", [markdown("x") | {"element_id": i} for i in ids])

    validate_card(with_ids("summary_1", "b" * 20))
    assert refused(with_ids("1summary")).path.endswith("element_id")
    assert refused(with_ids("a" * 21)).path.endswith("element_id")
    assert refused(with_ids("a-b")).path.endswith("element_id")
    assert "duplicate element_id" in refused(with_ids("same", "same")).message


def test_a_card_holds_at_most_200_components() -> None:
    validate_card(card("t", "blue", [markdown("x") for _ in range(200)]))
    assert "at most 200 components" in refused(card("t", "blue", [markdown("x") for _ in range(201)])).message


def test_confirm_needs_a_title_and_a_text() -> None:
    text = {"tag": "plain_text", "content": "确定吗？"}
    ok = button("删除", {"a": 1}) | {"confirm": {"title": text, "text": text}}
    validate_card(card("t", "blue", [ok]))
    no_title = button("删除", {"a": 1}) | {"confirm": {"text": text}}
    assert refused(card("t", "blue", [no_title])).path.endswith("confirm.title")


def test_date_picker_and_multi_select_static_are_valid_components() -> None:
    options = [{"text": {"tag": "plain_text", "content": "甲"}, "value": "a"}]
    validate_card(
        card(
            "t",
            "blue",
            [
                {
                    "tag": "date_picker",
                    "name": "day",
                    "placeholder": {"tag": "plain_text", "content": "日期"},
                },
                {"tag": "multi_select_static", "name": "pick", "options": options, "selected_values": ["a"]},
            ],
        )
    )


def test_an_invalid_chart_spec_is_refused() -> None:
    chart = {"tag": "chart", "chart_spec": {"type": "line", "data": {"values": []}}}
    validate_card(card("t", "blue", [chart]))
    assert inner(refused(card("t", "blue", [{"tag": "chart", "chart_spec": "line"}]))) == CHART_INVALID
    assert inner(refused(card("t", "blue", [{"tag": "chart", "chart_spec": {"data": {}}}]))) == CHART_INVALID


# Through the emulator ----------------------------------------------------------------------------------------------
@pytest.fixture
async def served() -> AsyncIterator[tuple[FeishuEmulator, FeishuClient, httpx.AsyncClient]]:
    emulator = FeishuEmulator(Clock(), SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    client = FeishuClient(
        base_url=url, app_id=SANDBOX_APP_ID, app_secret=SANDBOX_APP_SECRET, clock=emulator.clock
    )
    raw = httpx.AsyncClient(base_url=url)
    raw.headers["Authorization"] = f"Bearer {await client.tenant_token()}"
    try:
        yield emulator, client, raw
    finally:
        await raw.aclose()
        await client.aclose()
        await runner.cleanup()


async def send(
    raw: httpx.AsyncClient,
    content: Any,
    *,
    to: str = HR_GROUP,
    id_type: str = "chat_id",
    msg_type: str = "interactive",
) -> dict[str, Any]:
    body = {"receive_id": to, "msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False)}
    return (await raw.post(f"/open-apis/im/v1/messages?receive_id_type={id_type}", json=body)).json()


def error_code(answer: dict[str, Any]) -> int:
    """The card fault's inner code (Feishu: "...ErrCode: <n>; ..."), else the answer's code."""
    msg = str(answer.get("msg", ""))
    if "ErrCode: " in msg:
        return int(msg.split("ErrCode: ")[1].split(";")[0])
    return int(answer["code"])


async def test_an_img_key_never_uploaded_is_refused_and_an_uploaded_one_passes(served) -> None:
    _emulator, client, raw = served
    assert error_code(await send(raw, card("t", "blue", [image("img_v3_made_up", "图")]))) == IMAGE_UNKNOWN
    key = await client.upload_image(PNG)
    assert (await send(raw, card("t", "blue", [image(key, "图")])))["code"] == 0


async def test_an_at_of_an_unknown_user_is_refused(served) -> None:
    _emulator, _client, raw = served
    known = card("t", "blue", [markdown(f"<at id={EMPLOYEE}></at> 你好 <at id=all></at>")])
    assert (await send(raw, known))["code"] == 0
    unknown = card("t", "blue", [markdown("<at id=ou_nobody></at> 你好")])
    assert error_code(await send(raw, unknown)) == AT_UNKNOWN_USER


async def test_a_patch_needs_update_multi_in_the_sent_and_the_new_card(served) -> None:
    emulator, _client, raw = served
    not_shared = {k: v for k, v in CARD.items() if k != "config"}
    sent = (await send(raw, not_shared))["data"]["message_id"]
    shared = (await send(raw, CARD))["data"]["message_id"]

    async def patch(message_id: str, content: dict[str, Any]) -> dict[str, Any]:
        body = {"content": json.dumps(content, ensure_ascii=False)}
        return (await raw.patch(f"/open-apis/im/v1/messages/{message_id}", json=body)).json()

    assert (await patch(sent, CARD))["code"] != 0  # the sent card was not shared
    assert (await patch(shared, not_shared))["code"] != 0  # the new card is not
    assert (await patch(shared, CARD))["code"] == 0
    assert emulator.messages[sent].version == 1


async def test_text_may_be_150_kb_while_a_card_stays_at_30_kb(served) -> None:
    _emulator, _client, raw = served
    assert (await send(raw, {"text": "字" * 45_000}, msg_type="text"))["code"] == 0  # about 135 KB
    assert (await send(raw, {"text": "字" * 52_000}, msg_type="text"))["code"] == 230025  # over 150 KB
    assert (await send(raw, card("t", "blue", [markdown("字" * 11_000)])))["code"] == 230025


async def test_create_answers_the_whole_message(served) -> None:
    _emulator, _client, raw = served
    data = (await send(raw, CARD))["data"]
    for field in ("message_id", "root_id", "parent_id", "msg_type", "create_time", "update_time", "chat_id"):
        assert field in data
    assert data["msg_type"] == "interactive" and data["chat_id"] == HR_GROUP
    assert data["sender"]["sender_type"] == "app" and data["sender"]["id"] == SANDBOX_APP_ID
    assert json.loads(data["body"]["content"])["schema"] == "2.0"


@pytest.mark.parametrize(
    ("id_type", "receive_id"),
    [
        ("open_id", EMPLOYEE),
        ("user_id", "u_employee"),
        ("union_id", "on_sandbox_employee"),
        ("email", "u_employee@sandbox.example.com"),
    ],
)
async def test_receive_id_type_is_honoured(served, id_type: str, receive_id: str) -> None:
    emulator, _client, raw = served
    answer = await send(raw, CARD, to=receive_id, id_type=id_type)
    assert answer["code"] == 0, answer
    assert answer["data"]["chat_id"] == Directory.p2p_chat_of(EMPLOYEE)
    person = emulator.directory.person(EMPLOYEE)
    assert union_of(person) == "on_sandbox_employee" and email_of(person) == "u_employee@sandbox.example.com"


@pytest.mark.parametrize("id_type", ["user_id", "union_id", "email"])
async def test_an_open_id_passed_as_another_id_type_is_refused(served, id_type: str) -> None:
    emulator, _client, raw = served
    answer = await send(raw, CARD, to=EMPLOYEE, id_type=id_type)
    assert answer["code"] != 0 and "not existed" in answer["msg"]
    assert not emulator.bot_messages()
