"""Issue 13: stale requests, unreadable events, readiness, misconfiguration, headers and log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.config import ConfigError, load_settings
from bot.console.server import _loopback_only
from bot.lifecycle.app import check_live_settings
from bot.lifecycle.health import READY_SECONDS
from bot.observability.logs import JsonFormatter, MaskingFormatter
from bot.sandbox.directory import EMPLOYEE, Directory
from tests import feishu_wire as wire
from tests.conftest import PG_ADMIN_URL, RunningBot, eventually, make_settings

CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
}


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.lifecycle.cli", "serve", *args],
        env={**CLEAN_ENV, "HRBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "HRBOT_PORT": "0", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _signed_message(bot: RunningBot, text: str, **envelope_kw: str) -> tuple[bytes, str]:
    """A message event, encrypted, known to the emulator (so it can be replied to); signing is left to the test."""
    event = wire.message_event(text, user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE))
    message = event["message"]
    bot.feishu.record_user_message(
        message["message_id"], chat_id=message["chat_id"], sender="user", text=message["content"]
    )
    return wire.encrypt_body(wire.envelope("im.message.receive_v1", event, **envelope_kw)), message[
        "message_id"
    ]


# Item 3: freshness --------------------------------------------------------------------------------------------------
async def test_a_correctly_signed_but_stale_request_is_refused_and_does_nothing(bot: RunningBot) -> None:
    body, message_id = _signed_message(bot, "帮助", event_id="ev-stale")
    five_days_ago = str(int(time.time()) - 5 * 24 * 3600)
    response = await bot.post_raw(body, wire.sign(body, timestamp=five_days_ago))
    assert response.status_code == 401
    not_a_number = await bot.post_raw(body, wire.sign(body, timestamp="yesterday"))
    assert not_a_number.status_code == 401
    await bot.idle()
    assert bot.feishu.bot_messages() == []
    # Nothing was claimed either: the same event, freshly signed, is handled.
    fresh = await bot.post_raw(body, wire.sign(body))
    assert fresh.status_code == 200
    assert "使用帮助" in await bot.reply_text(message_id)


async def test_a_request_just_inside_the_age_is_accepted(bot: RunningBot) -> None:
    body, message_id = _signed_message(bot, "帮助")
    six_hours_ago = str(int(time.time()) - 6 * 3600)  # Feishu's last retry comes 6 h after the first try
    assert (await bot.post_raw(body, wire.sign(body, timestamp=six_hours_ago))).status_code == 200
    assert "使用帮助" in await bot.reply_text(message_id)


def test_max_request_age_must_be_shorter_than_the_dedup_retention(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"HRBOT_MAX_REQUEST_AGE .* HRBOT_DEDUP_RETENTION_HOURS"):
        load_settings(
            env_file=None, overrides={"hrbot_max_request_age": 48 * 3600, "hrbot_dedup_retention_hours": 48}
        )
    result = _serve(tmp_path, HRBOT_DEDUP_RETENTION_HOURS="12")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "HRBOT_MAX_REQUEST_AGE" in lines[0] and "HRBOT_DEDUP_RETENTION_HOURS" in lines[0]


# Item 4: unreadable parts of a verified event ------------------------------------------------------------------------
async def test_deeply_nested_content_is_claimed_and_answered_without_a_traceback(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    event = wire.message_event("", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE), content=nested)
    with caplog.at_level(logging.INFO):
        response = await bot.post_event("im.message.receive_v1", event, event_id="ev-nested")
        assert response.status_code == 200
        await bot.idle()
    assert await bot.app.services.store.claimed("event:ev-nested")  # type: ignore[union-attr]
    assert "outcome=malformed" in caplog.text
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
    # A wrong-typed part (mentions as a string, action value as a list) is the same handled outcome.
    odd = wire.message_event("帮助", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE))
    odd["message"]["mentions"] = "everyone"
    assert (await bot.post_event("im.message.receive_v1", odd)).status_code == 200
    click = wire.action_event(user=EMPLOYEE, value={"action": "x"}, message_id="om_x", chat_id="oc_x")
    click["action"]["value"] = [1, 2]
    assert (await bot.post_event("card.action.trigger", click)).status_code == 200
    await bot.idle()
    assert bot.feishu.bot_messages() == []


# Item 6: readiness ---------------------------------------------------------------------------------------------------
async def test_readyz_reports_storage_and_named_checks(bot: RunningBot) -> None:
    ready = await bot.http.get(f"{bot.app.url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["storage"] == "ok"

    async def feishu_unreachable() -> str | None:
        return "feishu did not answer"

    bot.app.readiness.add("feishu", feishu_unreachable)
    down = await _readyz_once(bot, 503)
    assert down.json() == {
        "status": "not ready",
        "checks": {
            "storage": "ok",
            "feishu_bot_info": "ok",
            "tenant_token": "ok",
            "feishu": "feishu did not answer",
            "scheduler_storage": "ok",
            **_redis_ok(),
        },
        "scheduler": "leader",
    }
    assert (
        await bot.http.get(f"{bot.app.url}/healthz")
    ).status_code == 200  # liveness is a different question


async def _readyz_once(bot: RunningBot, status: int) -> httpx.Response:
    """/readyz once its cached answer (at most READY_SECONDS old) has caught up with a change."""

    async def answered() -> httpx.Response | None:
        response = await bot.http.get(f"{bot.app.url}/readyz")
        return response if response.status_code == status else None

    return await eventually(answered, 2 * READY_SECONDS + 5, what=f"/readyz {status}")


def _redis_ok() -> dict[str, str]:
    from tests.conftest import REDIS_URL

    return {"redis": "ok"} if REDIS_URL else {}


@pytest.mark.skipif(bool(PG_ADMIN_URL), reason="deletes the SQLite files")
async def test_readyz_fails_when_the_sqlite_files_are_deleted(bot: RunningBot, tmp_path: Path) -> None:
    assert (await bot.http.get(f"{bot.app.url}/readyz")).status_code == 200
    for path in await asyncio.to_thread(lambda: list(tmp_path.glob("hrbot.db*"))):
        path.unlink()
    # The bot still answers messages from the deleted file's open connections; readiness says what is wrong.
    assert "使用帮助" in await bot.reply_text(await bot.say("帮助"))
    down = await _readyz_once(bot, 503)
    assert down.json()["checks"]["storage"] == "database file is gone"


# Item 8: misconfiguration ---------------------------------------------------------------------------------------------
def test_half_a_live_configuration_is_refused_with_one_line(tmp_path: Path) -> None:
    only_id = make_settings(tmp_path, feishu_app_id="cli_real")
    assert not only_id.sandbox
    with pytest.raises(ConfigError) as refused:
        check_live_settings(only_id, "webhook")
    named = str(refused.value).split(":")[0]  # "missing setting A, B: why"
    assert (
        "FEISHU_APP_SECRET" in named and "FEISHU_VERIFICATION_TOKEN" in named and "FEISHU_APP_ID" not in named
    )
    only_secret = make_settings(tmp_path, feishu_app_secret="s")
    with pytest.raises(ConfigError, match="FEISHU_APP_ID") as ws:
        check_live_settings(only_secret, "ws")
    assert "FEISHU_VERIFICATION_TOKEN" not in str(ws.value).split(":")[0]
    check_live_settings(make_settings(tmp_path, feishu_app_id="a", feishu_app_secret="s"), "ws")
    assert make_settings(tmp_path, feishu_base_url="https://open.larksuite.com").sandbox

    result = _serve(tmp_path, FEISHU_APP_ID="cli_real", FEISHU_APP_SECRET="secret")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "FEISHU_VERIFICATION_TOKEN" in lines[0].split(":")[1] and "sandbox mode" not in result.stderr


async def test_the_console_answers_loopback_peers_only_unless_public() -> None:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="console")

    def request_from(address: str, method: str = "GET", **headers: str) -> web.Request:
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            (address, 50000) if name == "peername" else default
        )
        headers = {"Host": "127.0.0.1:8000", **headers}
        return make_mocked_request(method, "/console", headers=headers, transport=transport)

    guarded = _loopback_only(page)
    assert (await guarded(request_from("127.0.0.1"))).status == 200
    assert (await guarded(request_from("::1", Host="[::1]:8000"))).status == 200
    assert (await guarded(request_from("127.0.0.1", Host="localhost:8000"))).status == 200
    refused = await guarded(request_from("172.17.0.1"))
    assert refused.status == 403 and "HRBOT_CONSOLE_PUBLIC" in refused.text  # type: ignore[attr-defined]
    # Another page in the developer's browser: a rebinding name, a foreign Origin, a form or text/plain post.
    assert (await guarded(request_from("127.0.0.1", Host="evil.example:8000"))).status == 403
    assert (await guarded(request_from("127.0.0.1", Origin="https://evil.example"))).status == 403
    plain_post = request_from("127.0.0.1", "POST", **{"Content-Type": "text/plain"})
    assert (await guarded(plain_post)).status == 415
    json_post = request_from(
        "127.0.0.1", "POST", **{"Content-Type": "application/json", "Origin": "http://127.0.0.1:8000"}
    )
    assert (await guarded(json_post)).status == 200


# Item 9: headers and log lines --------------------------------------------------------------------------------------
async def test_no_server_header_names_a_version(bot: RunningBot) -> None:
    for response in (
        await bot.http.get(f"{bot.app.url}/healthz"),
        await bot.post_raw(b"{not json"),
        await bot.http.get(f"{bot.app.url}/nowhere"),
    ):
        assert response.headers.get("Server") == "hrbot"


@pytest.mark.parametrize("formatter", [MaskingFormatter("%(message)s"), JsonFormatter()])
def test_control_characters_never_reach_a_log_line(formatter: logging.Formatter) -> None:
    record = logging.LogRecord(
        "hrbot",
        logging.WARNING,
        __file__,
        1,
        "bad keyword %s",
        ("a\x00b\x1b[31mc\u202ed\u2066e\nFAKE ERROR",),
        None,
    )
    line = formatter.format(record)
    text = json.loads(line)["message"] if isinstance(formatter, JsonFormatter) else line
    for char in ("\x00", "\x1b", "\u202e", "\u2066", "\n"):
        assert char not in text
    assert "ab[31mcde FAKE ERROR" in text
