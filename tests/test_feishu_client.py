"""The bot's Feishu client against the emulator: one token for many callers, rate limits, stale tokens."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.client import FeishuClient, FeishuError, FeishuUnreachable, _env_proxy
from bot.sandbox.directory import HR_GROUP
from bot.sandbox.feishu import FeishuEmulator
from cards.common import card, markdown

CARD = card("测试", "blue", [markdown("你好")])


@pytest.fixture
async def emulator_and_client() -> AsyncIterator[tuple[FeishuEmulator, FeishuClient, Clock]]:
    clock = Clock()
    emulator = FeishuEmulator(clock, SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = FeishuClient(
        base_url=f"http://127.0.0.1:{port}", app_id=SANDBOX_APP_ID, app_secret=SANDBOX_APP_SECRET, clock=clock
    )
    try:
        yield emulator, client, clock
    finally:
        await client.aclose()
        await runner.cleanup()


async def test_fifty_concurrent_sends_with_an_expired_token_fetch_one_token(emulator_and_client) -> None:
    emulator, client, clock = emulator_and_client
    await client.send_card(HR_GROUP, CARD)
    assert emulator.token_requests == 1
    clock.advance(timedelta(hours=3))  # past the 2 h token lifetime
    # Fifty people (one chat each: a chat takes 5 messages a second).
    people = [f"ou_emp_{n:05d}" for n in range(1, 51)]
    ids = await asyncio.gather(*(client.send_card(p, CARD, id_type="open_id") for p in people))
    assert emulator.token_requests == 2
    assert len(set(ids)) == 50
    assert len(emulator.bot_messages()) == 51


async def test_token_is_refreshed_before_it_expires(emulator_and_client) -> None:
    emulator, client, clock = emulator_and_client
    await client.send_card(HR_GROUP, CARD)
    clock.advance(timedelta(seconds=7200 - 120))  # within the refresh margin, still valid upstream
    await client.send_card(HR_GROUP, CARD)
    assert emulator.token_requests == 2


async def test_a_revoked_token_is_replaced_once(emulator_and_client) -> None:
    emulator, client, _clock = emulator_and_client
    await client.send_card(HR_GROUP, CARD)
    emulator.tokens.clear()  # Feishu invalidated it early
    await client.send_card(HR_GROUP, CARD)
    assert emulator.token_requests == 2
    assert len(emulator.bot_messages(HR_GROUP)) == 2


async def test_rate_limited_sends_back_off_and_all_land_once(emulator_and_client) -> None:
    emulator, client, _clock = emulator_and_client
    window = emulator.limit("/open-apis/im/v1/messages", per_second=5)
    # Twelve people at once: each chat is within its own 5 a second, the API's limit is not.
    people = [f"ou_emp_{n:05d}" for n in range(1, 13)]
    await asyncio.gather(*(client.send_card(p, CARD, id_type="open_id") for p in people))
    assert window.rejected > 0
    assert len(emulator.bot_messages()) == 12


async def test_errors_carry_feishu_code(emulator_and_client) -> None:
    _emulator, client, _clock = emulator_and_client
    with pytest.raises(FeishuError) as raised:
        await client.patch_card("om_missing", CARD)
    assert raised.value.code == 230011


async def test_oversized_card_is_refused_before_sending(emulator_and_client) -> None:
    emulator, client, _clock = emulator_and_client
    huge = card("大", "blue", [markdown("字" * 20000)])
    with pytest.raises(ValueError, match="limit"):
        await client.send_card(HR_GROUP, huge)
    assert emulator.bot_messages() == []


async def test_users_by_open_ids_batches_fifty(emulator_and_client) -> None:
    emulator, client, _clock = emulator_and_client
    ids = [p.open_id for p in emulator.directory.people[:120]]
    users = await client.users_by_open_ids(ids)
    assert len(users) == 120
    assert emulator.api_calls["/open-apis/contact/v3/users/batch"] == 3


async def test_image_upload_returns_a_key_the_emulator_serves(emulator_and_client) -> None:
    emulator, client, _clock = emulator_and_client
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    key = await client.upload_image(png)
    assert key.startswith("img_") and emulator.images[key] == png


async def test_a_resend_with_the_same_idempotency_key_lands_once(emulator_and_client) -> None:
    emulator, client, _clock = emulator_and_client
    first = await client.send_card(HR_GROUP, CARD, idempotency_key="micro:job-1:push")
    again = await client.send_card(HR_GROUP, CARD, idempotency_key="micro:job-1:push")
    other = await client.send_card(HR_GROUP, CARD, idempotency_key="micro:job-2:push")
    assert first == again != other
    assert len(emulator.bot_messages(HR_GROUP)) == 2


async def test_a_file_upload_keeps_its_name_and_bytes(emulator_and_client) -> None:
    emulator, client, _clock = emulator_and_client
    key = await client.upload_file(b"PK\x03\x04xlsx", "增减员.xlsx", "xls")
    await client.send_file(HR_GROUP, key)
    assert emulator.files[key] == ("增减员.xlsx", b"PK\x03\x04xlsx")
    # The message as a receiving client has it: the key and the file's name.
    assert emulator.bot_messages(HR_GROUP)[-1].content == {"file_key": key, "file_name": "增减员.xlsx"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_feishu_unreachable_is_a_connection_error_naming_the_call() -> None:
    client = FeishuClient(
        base_url=f"http://127.0.0.1:{_free_port()}",
        app_id=SANDBOX_APP_ID,
        app_secret=SANDBOX_APP_SECRET,
        clock=Clock(),
    )
    try:
        with pytest.raises(FeishuUnreachable, match="tenant_access_token") as unreachable:
            await client.send_card(HR_GROUP, CARD)
        assert isinstance(unreachable.value, ConnectionError)  # callers catch OSError, not the HTTP library's
    finally:
        await client.aclose()


async def test_the_proxy_in_the_environment_is_used_unless_no_proxy_names_the_host(
    emulator_and_client, monkeypatch
) -> None:
    emulator, direct, _clock = emulator_and_client
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    # The emulator stands in for the proxy: a forward proxy is sent the absolute URL, which it routes by path.
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{direct._base_url.rsplit(':', 1)[1]}")
    settings = {"app_id": SANDBOX_APP_ID, "app_secret": SANDBOX_APP_SECRET, "clock": Clock()}
    proxied = FeishuClient(base_url="http://open.feishu.invalid", **settings)
    try:
        assert await proxied.send_card(HR_GROUP, CARD)
        assert len(emulator.bot_messages(HR_GROUP)) == 1
    finally:
        await proxied.aclose()
    monkeypatch.setenv("no_proxy", "open.feishu.invalid")
    bypassing = FeishuClient(base_url="http://open.feishu.invalid", **settings)
    try:
        with pytest.raises(FeishuUnreachable):
            await bypassing.send_card(HR_GROUP, CARD)
    finally:
        await bypassing.aclose()


def test_proxy_credentials_go_in_their_header_not_the_url(monkeypatch) -> None:
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("https_proxy", "http://bot:s%40cret@proxy.corp:3128")
    proxy, headers = _env_proxy("https://open.feishu.cn")
    assert proxy == "http://proxy.corp:3128"
    assert headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"bot:s@cret").decode()}
    monkeypatch.setenv("no_proxy", ".feishu.cn")
    assert _env_proxy("https://open.feishu.cn") == (None, None)
