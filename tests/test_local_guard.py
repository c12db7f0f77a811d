"""The sandbox's login-less surfaces (console, emulator driving API) as another site's page or a same-host reverse
proxy reaches them: refused, while this machine's own tools still get through."""

from __future__ import annotations

import json

from bot.sandbox.directory import EMPLOYEE, Directory
from tests.conftest import RunningBot

SAY = {"text": "帮助", "user": EMPLOYEE, "chat_id": Directory.p2p_chat_of(EMPLOYEE)}


async def test_the_emulator_api_refuses_rebinding_and_cross_site_posts(bot: RunningBot) -> None:
    api = f"{bot.sandbox.url}/sandbox/api"
    before = len(bot.feishu.messages)
    # A DNS-rebinding page: its own host name, a text/plain body (no preflight needed).
    rebinding = await bot.http.post(
        f"{api}/say",
        content=json.dumps(SAY),
        headers={
            "Host": "evil.example:8000",
            "Content-Type": "text/plain",
            "Origin": "http://evil.example:8000",
        },
    )
    assert rebinding.status_code == 403
    plain = await bot.http.post(f"{api}/say", content=json.dumps(SAY), headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    foreign_read = await bot.http.get(f"{api}/messages", headers={"Host": "evil.example"})
    assert foreign_read.status_code == 403
    assert len(bot.feishu.messages) == before
    # `hrbot say` and the console: JSON from this machine.
    assert (await bot.http.post(f"{api}/say", json=SAY)).status_code == 200


async def test_a_same_host_reverse_proxy_forwarding_host_does_not_open_the_console(bot: RunningBot) -> None:
    # nginx on this machine (deploy/nginx.conf, `server_name _`): the peer is loopback and the Host is whatever the
    # client sent, but nginx adds the forwarding headers.
    for headers in (
        {"Host": "localhost:8000", "X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"},
        {"Host": "127.0.0.1", "Forwarded": "for=203.0.113.9"},
        {"Host": "localhost", "Via": "1.1 proxy"},
    ):
        for path in ("/console", "/console/api/state"):
            answer = await bot.http.get(f"{bot.app.url}{path}", headers=headers)
            assert answer.status_code == 403, (path, headers)
        refused = await bot.http.post(f"{bot.sandbox.url}/sandbox/api/say", json=SAY, headers=headers)
        assert refused.status_code == 403
    assert (await bot.http.get(f"{bot.app.url}/console/api/state")).status_code == 200
