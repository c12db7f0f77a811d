"""Random bodies, random JSON and random command text through the ingress: never a 5xx, and the bot keeps answering."""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE
from tests import feishu_wire as wire
from tests.conftest import RunningBot

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Envelope-shaped JSON with random holes and types, so parsing is exercised past the first check.
envelope_like = st.fixed_dictionaries(
    {
        "schema": st.sampled_from(["2.0", None, 2]),
        "header": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "event_id": st.one_of(st.text(max_size=8), st.integers()),
                    "token": st.just(wire.TOKEN),
                    "event_type": st.sampled_from(["im.message.receive_v1", "card.action.trigger", "x"]),
                }
            ),
        ),
        "event": json_values,
    }
)

command_text = st.text(
    alphabet=st.sampled_from([*"帮助企业社保核验小微个人增减员 @_user_1\u3000\n\t abc123", "\x00", "😀"]),
    max_size=40,
)


async def test_random_input_never_breaks_the_ingress(bot: RunningBot) -> None:
    url = bot.events_url
    statuses: list[int] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(raw=st.binary(max_size=300))
    def random_bodies(raw: bytes) -> None:
        statuses.append(httpx.post(url, content=raw).status_code)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(value=json_values | envelope_like, encrypted=st.booleans())
    def random_json(value: object, encrypted: bool) -> None:
        body = wire.encrypt_body(value) if encrypted else json.dumps(value).encode()  # type: ignore[arg-type]
        statuses.append(httpx.post(url, content=body, headers=wire.sign(body)).status_code)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(text=command_text, group=st.booleans())
    def random_commands(text: str, group: bool) -> None:
        mentions = [wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")] if group else []
        event = wire.message_event(
            text, user=EMPLOYEE, chat_id="oc_random", chat_type="group" if group else "p2p", mentions=mentions
        )
        body = wire.encrypt_body(wire.envelope("im.message.receive_v1", event))
        statuses.append(httpx.post(url, content=body, headers=wire.sign(body)).status_code)

    for run in (random_bodies, random_json, random_commands):
        await asyncio.to_thread(run)

    assert statuses and all(status < 500 for status in statuses), sorted(set(statuses))
    assert 200 in statuses
    assert "使用帮助" in await bot.reply_text(await bot.say("帮助"))
