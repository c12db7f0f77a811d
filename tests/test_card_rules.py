"""The emulator refuses what Feishu refuses: card JSON 2.0 rules, checked on sends, replies, patches and callback answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.client import CardTooLarge, FeishuClient, FeishuError
from bot.sandbox.card_rules import CARD_INVALID, CardViolation, validate_card, violation
from bot.sandbox.directory import HR_GROUP
from bot.sandbox.feishu import DeliveryTarget, FeishuEmulator
from cards.common import (
    action_value,
    button,
    card,
    form,
    markdown,
    panel,
    submit_button,
    table,
    text_input,
)

ROWS = [{"insurance": "养老", "paid": "47.014208万元"}]
COLUMNS = [("insurance", "险种"), ("paid", "本期实际缴费")]


def year_table() -> dict[str, Any]:
    return table(COLUMNS, ROWS, page_size=5)


# The three shapes issue 12 found in the bot's own cards ----------------------------------------------------------
def table_in_panel() -> dict[str, Any]:
    """企业社保 before: one panel per year, each holding that year's table."""
    return card("企业社保缴纳", "blue", [panel("**2019 年报**", [year_table()], expanded=True)])


def six_tables() -> dict[str, Any]:
    """企业社保 with ten years, or 增减员 with one table per record: more than five tables."""
    return card("社保增减员记录", "blue", [year_table() for _ in range(6)])


def form_and_input_both_named_code() -> dict[str, Any]:
    """The SMS / captcha step before: the form named `code`, and so was its input."""
    return card(
        "个人社保查询",
        "orange",
        [
            form(
                "code",
                [text_input("code", "短信验证码", required=True), submit_button("提交验证码", {"a": 1})],
            )
        ],
    )


THREE_SHAPES = {
    "table inside a collapsible_panel": (table_in_panel, "body.elements[0].elements[0]", "root"),
    "six tables": (six_tables, "body.elements", "at most 5"),
    "form and input both named code": (
        form_and_input_both_named_code,
        "body.elements[0].elements[0].name",
        "duplicate name 'code'",
    ),
}


@pytest.fixture
async def emulator_and_client() -> AsyncIterator[tuple[FeishuEmulator, FeishuClient]]:
    clock = Clock()
    emulator = FeishuEmulator(clock, SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    client = FeishuClient(
        base_url=f"http://127.0.0.1:{runner.addresses[0][1]}",
        app_id=SANDBOX_APP_ID,
        app_secret=SANDBOX_APP_SECRET,
        clock=clock,
    )
    try:
        yield emulator, client
    finally:
        await client.aclose()
        await runner.cleanup()


@pytest.mark.parametrize("shape", THREE_SHAPES)
async def test_the_three_shapes_are_refused_on_send_reply_and_patch(emulator_and_client, shape: str) -> None:
    emulator, client = emulator_and_client
    build, path, why = THREE_SHAPES[shape]
    good = await client.send_card(HR_GROUP, card("ok", "blue", [markdown("ok")]))
    calls = {
        "send": lambda: client.send_card(HR_GROUP, build()),
        "reply": lambda: client.reply_card(good, build()),
        "patch": lambda: client.patch_card(good, build()),
    }
    for name, call in calls.items():
        with pytest.raises(FeishuError) as refused:
            await call()
        assert refused.value.code == CARD_INVALID, name
        assert f"ErrorValue: {path}" in refused.value.msg and why in refused.value.msg, name
    assert len(emulator.bot_messages()) == 1
    assert emulator.messages[good].version == 1


async def test_a_callback_answered_with_an_invalid_card_shows_an_error_and_keeps_the_card(
    emulator_and_client,
) -> None:
    emulator, client = emulator_and_client
    shown = card("ok", "blue", [button("刷新", action_value("x.refresh"))])
    message_id = await client.send_card(HR_GROUP, shown)

    async def answer_with_a_bad_card(_request: web.Request) -> web.Response:
        return web.json_response({"card": {"type": "raw", "data": table_in_panel()}})

    answered = await _with_bot(emulator, answer_with_a_bad_card, message_id, action_value("x.refresh"))
    assert answered["toast"]["type"] == "error" and answered["error"] == CARD_INVALID
    assert emulator.messages[message_id].content == shown
    assert "body.elements[0].elements[0]" in emulator.callback_errors[0]["msg"]


async def _with_bot(
    emulator: FeishuEmulator, handler: Any, message_id: str, value: dict[str, Any]
) -> dict[str, Any]:
    """Stand in for the bot at the callback URL (the emulator encrypts and signs; this answer ignores that)."""
    app = web.Application()
    app.router.add_post("/events", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
        emulator.target = DeliveryTarget(url, "k" * 16, "token", SANDBOX_APP_ID)
        return await emulator.user_clicks(message_id, user="ou_someone", value=value)
    finally:
        await runner.cleanup()


# One test per rule, on the validator itself --------------------------------------------------------------------
def refused(card_json: dict[str, Any]) -> CardViolation:
    problem = violation(card_json)
    assert problem is not None, "the card was accepted"
    return problem


def test_a_valid_card_passes() -> None:
    validate_card(card("好", "green", [markdown("ok"), year_table()]))


def test_unknown_tag_and_unknown_property_are_refused() -> None:
    assert "unknown component tag 'marquee'" in refused(card("t", "blue", [{"tag": "marquee"}])).message
    problem = refused(card("t", "blue", [markdown("x") | {"colour": "red"}]))
    assert problem.path == "body.elements[0].colour" and "unsupported property" in problem.message


def test_v1_only_fields_are_refused() -> None:
    v1_button = {"tag": "button", "text": {"tag": "plain_text", "content": "旧"}, "value": {"a": 1}}
    assert refused(card("t", "blue", [v1_button])).path == "body.elements[0].value"
    assert refused(card("t", "blue", [{"tag": "note", "elements": []}])).path == "body.elements[0].tag"
    assert refused(card("t", "blue", [{"tag": "action", "actions": []}])).path == "body.elements[0].tag"
    assert refused({"schema": "2.0", "elements": [], "body": {"elements": []}}).path == "elements"
    not_shared = card("t", "blue", []) | {"config": {"update_multi": False}}
    assert refused(not_shared).path == "config.update_multi"


def test_unknown_header_template_is_refused() -> None:
    assert refused(card("t", "pink", [])).path == "header.template"


def test_form_only_at_the_root_and_holding_no_table_or_form() -> None:
    login = form("login", [text_input("user", "用户名"), submit_button("登录", {"a": 1})])
    assert "root" in refused(card("t", "blue", [panel("p", [login])])).message
    with_table = form("f", [year_table(), submit_button("提交", {"a": 1})])
    problem = refused(card("t", "blue", [with_table]))
    assert problem.path == "body.elements[0].elements[0]" and "holds no table" in problem.message


def test_a_form_needs_a_named_submit_button() -> None:
    no_submit = form("f", [text_input("user", "用户名"), button("提交", {"a": 1}, name="b")])
    assert "form_action_type submit" in refused(card("t", "blue", [no_submit])).message
    unnamed = submit_button("提交", {"a": 1})
    del unnamed["name"]
    problem = refused(card("t", "blue", [form("f", [text_input("user", "用户名"), unnamed])]))
    assert problem.path == "body.elements[0].elements[1].name"
    input_without_name = {"tag": "input"}
    problem = refused(card("t", "blue", [form("f", [input_without_name, submit_button("提交", {"a": 1})])]))
    assert problem.path == "body.elements[0].elements[0].name"


def test_duplicate_names_anywhere_in_the_card_are_refused() -> None:
    first = form("f1", [text_input("amount", "金额"), submit_button("提交", {"a": 1}, name="s1")])
    second = form("f2", [text_input("amount", "金额"), submit_button("提交", {"a": 2}, name="s2")])
    assert "duplicate name 'amount'" in refused(card("t", "blue", [first, second])).message


def test_table_details_are_checked() -> None:
    assert (
        refused(card("t", "blue", [table(COLUMNS, ROWS, page_size=11)])).path == "body.elements[0].page_size"
    )
    bad_type = table(COLUMNS, ROWS)
    bad_type["columns"][0]["data_type"] = "money"
    assert refused(card("t", "blue", [bad_type])).path == "body.elements[0].columns[0].data_type"


def test_containers_nest_at_most_five_levels() -> None:
    element: dict[str, Any] = markdown("深")
    for _ in range(5):
        element = panel("p", [element])
    validate_card(card("t", "blue", [element]))
    assert "nest at most" in refused(card("t", "blue", [panel("p", [element])])).message


async def test_a_request_body_over_30_kb_is_refused_measured_as_sent(emulator_and_client) -> None:
    emulator, client = emulator_and_client
    # 9,000 quote marks: 18 KB of card JSON (\\" each), but 36 KB on the wire, where the card is itself a JSON string.
    quotes = card("引号", "blue", [markdown('"' * 9_000)])
    assert len(json.dumps(quotes).encode()) < 30 * 1024
    with pytest.raises(CardTooLarge):
        await client.send_card(HR_GROUP, quotes)
    raw = await client._request(  # the bot's own client refuses before sending: post it by hand
        "POST",
        "/open-apis/im/v1/messages",
        params={"receive_id_type": "chat_id"},
        content=_body(quotes),
        headers={
            "Authorization": f"Bearer {await client.tenant_token()}",
            "Content-Type": "application/json",
        },
    )
    assert json.loads(raw.body)["code"] == 230025
    assert emulator.bot_messages() == []


def _body(card_json: dict[str, Any]) -> bytes:
    content = json.dumps(card_json, ensure_ascii=True)
    return json.dumps({"receive_id": HR_GROUP, "msg_type": "interactive", "content": content}).encode()
