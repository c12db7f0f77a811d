"""/healthz and /readyz as an outsider sees them: a status word only; the details on the metrics listener and for
this machine's own requests; readiness worked out at most once per 1.5 s, whoever floods it; the tenant-token check
cached; the scheduler's database checked too."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from bot.clock import Clock
from bot.lifecycle.health import READY_SECONDS, TOKEN_CHECK_SECONDS
from tests.conftest import PG_ADMIN_URL, RunningBot, eventually, make_settings, running_bot
from tests.test_longconn import ws_bot

# What nginx in front (deploy/nginx.conf) adds to every request it forwards, Host included.
THROUGH_NGINX = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Host": "bot.example.com"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_public_answer_is_a_status_word_and_the_details_are_for_operators(
    tmp_path: Path, clock: Clock
) -> None:
    async with ws_bot(tmp_path, clock, hrbot_metrics_port=_free_port()) as bot:
        health = await bot.http.get(f"{bot.app.url}/healthz", headers=THROUGH_NGINX)
        ready = await bot.http.get(f"{bot.app.url}/readyz", headers=THROUGH_NGINX)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        for response in (health, ready):
            assert "mode" not in response.text and "longconn" not in response.text

        # The metrics listener (loopback by default) and a request from this machine itself get the details.
        metrics_base = bot.app.metrics_url.removesuffix("/metrics")
        detailed = (await bot.http.get(f"{metrics_base}/healthz")).json()
        assert detailed["mode"] == "sandbox" and detailed["ingress"] == "ws"
        assert detailed["longconn"]["status"] == "connected" and "in_flight" in detailed
        checks = (await bot.http.get(f"{metrics_base}/readyz")).json()["checks"]
        assert checks["storage"] == checks["scheduler_storage"] == checks["long_connection"] == "ok"
        assert "longconn" in (await bot.http.get(f"{bot.app.url}/healthz")).json()


async def test_a_flood_of_readyz_runs_the_checks_once_and_sends_one_token_request(bot: RunningBot) -> None:
    services = bot.app.services
    assert services is not None
    runs = 0
    storage = bot.app.readiness._checks["storage"]

    async def counted() -> str | None:
        nonlocal runs
        runs += 1
        return await storage()

    bot.app.readiness.add("storage", counted)
    # Feishu's token endpoint refuses from now on, and the bot's token is gone.
    bot.feishu.app_secret = "rotated-elsewhere"
    services.feishu._token = None
    bot.app._ready._answer = None
    before = bot.feishu.token_requests
    started = asyncio.get_running_loop().time()
    answers = await asyncio.gather(
        *(bot.http.get(f"{bot.app.url}/readyz", headers=THROUGH_NGINX) for _ in range(100))
    )
    elapsed = asyncio.get_running_loop().time() - started
    assert {a.status_code for a in answers} == {503}
    assert {a.text for a in answers} == {'{"status": "not ready"}'}
    # One round of checks per READY_SECONDS (plus the one in flight when the window turned), one token request.
    assert runs <= elapsed / READY_SECONDS + 2
    assert bot.feishu.token_requests - before == 1
    # Feishu back: messages are answered.
    bot.feishu.app_secret = services.feishu._app_secret
    assert "使用帮助" in await bot.reply_text(await bot.say("帮助"))
    assert TOKEN_CHECK_SECONDS > READY_SECONDS


@pytest.mark.skipif(bool(PG_ADMIN_URL), reason="deletes the SQLite files")
async def test_readyz_fails_when_the_scheduler_database_is_deleted(tmp_path: Path, clock: Clock) -> None:
    async with running_bot(make_settings(tmp_path), clock) as bot:
        for path in await asyncio.to_thread(lambda: list(tmp_path.glob("hrbot-scheduler.db*"))):
            path.unlink()

        async def not_ready() -> httpx.Response | None:
            response = await bot.http.get(f"{bot.app.url}/readyz")
            return response if response.status_code == 503 else None

        down = await eventually(not_ready, 2 * READY_SECONDS + 5, what="/readyz 503")
        assert down.json()["checks"]["scheduler_storage"] == "scheduler database file is gone"
        assert down.json()["checks"]["storage"] == "ok"
