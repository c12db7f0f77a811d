"""Sandbox mode's upstreams in one loopback server: Feishu (and the providers' emulators), plus a small API to drive them."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.ingress.peers import local_only
from bot.sandbox.bitable import RATE_LIMITS as BITABLE_LIMITS
from bot.sandbox.bitable import SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID, BitableEmulator
from bot.sandbox.compensation import QUERY_PATH as COMPENSATION_PATH
from bot.sandbox.compensation import CompensationEmulator
from bot.sandbox.corehr import CoreHrEmulator
from bot.sandbox.directory import PERSONAS, Directory
from bot.sandbox.feishu import DeliveryTarget, EventNotDelivered, FeishuEmulator
from bot.sandbox.holds import Holds
from bot.sandbox.juhe import JuheEmulator
from bot.sandbox.longconn import ENDPOINT_PATH, SOCKET_PATH, LongConnHub
from bot.sandbox.tcredit import TcreditEmulator
from bot.sandbox.tenant import TenantFaults

log = logging.getLogger("hrbot.sandbox")

COMPENSATION_PER_SECOND = 10


class Sandbox:
    def __init__(self, clock: Clock, *, employees: int = 200) -> None:
        self.clock = clock
        self.feishu = FeishuEmulator(clock, SANDBOX_APP_ID, SANDBOX_APP_SECRET, Directory(employees))
        self.compensation = CompensationEmulator(self.feishu.directory, clock.now())
        self.feishu.extra_routes.append(self.compensation.route())
        self.feishu.limit(COMPENSATION_PATH, COMPENSATION_PER_SECOND)
        self.longconn = LongConnHub(SANDBOX_APP_ID, SANDBOX_APP_SECRET)
        self.feishu.longconn = self.longconn
        self.feishu.extra_routes.append(("POST", ENDPOINT_PATH, self.longconn.endpoint))
        self.corehr = CoreHrEmulator()
        self.tenant = TenantFaults(SANDBOX_APP_ID, self.feishu.directory)
        self.feishu.middlewares.append(self.tenant.middleware())
        self.feishu.extra_routes.extend(self.corehr.routes())
        self.bitable = BitableEmulator()
        self.bitable.add_table(SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID, "增减员申报")
        self.feishu.extra_routes.extend(self.bitable.routes())
        for path, per_second in BITABLE_LIMITS.items():
            self.feishu.limit(path, per_second)
        self.juhe = JuheEmulator(clock)
        self.tcredit = TcreditEmulator(clock)
        # Requests held on a test's word (a bot stuck at a known point, to be killed there).
        self.holds = Holds()
        self.url = ""
        # Feishu's Open API at an origin of its own, as lark-oapi's Client.domain() demands (no path prefix).
        self.feishu_url = ""
        # HRBOT_CONSOLE_PUBLIC: the driving API, like the console, answers other machines too.
        self.public = False
        self._runner: web.AppRunner | None = None
        self._feishu_runner: web.AppRunner | None = None

    def feishu_settings(self) -> dict[str, Any]:
        """The core's settings that point the bot's Feishu client at this sandbox."""
        return {
            "feishu_base_url": self.feishu_url,
            "feishu_app_id": SANDBOX_APP_ID,
            "feishu_app_secret": SANDBOX_APP_SECRET,
        }

    def upstream_settings(self) -> dict[str, Any]:
        """Every setting that points a bot at this sandbox (a live-mode bot in tests and benches)."""
        return {**self.feishu_settings(), **self.provider_settings()}

    def provider_settings(self) -> dict[str, Any]:
        """The providers' settings that point their clients at this sandbox's emulators."""
        return {
            "juhe_base_url": f"{self.url}/juhe-v",
            "juhe_apis_base_url": f"{self.url}/juhe-apis",
            "juhe_social_security_key": self.juhe.social_security_key,
            "juhe_micro_ent_key": self.juhe.micro_ent_key,
            "juhe_four_factors_key": self.juhe.four_factors_key,
            "juhe_openid": self.juhe.openid,
            "tcredit_base_url": f"{self.url}/tcredit",
            "tcredit_app_id": self.tcredit.app_id,
            "tcredit_token_id": self.tcredit.token_id,
        }

    def fast_forward(self, delta: timedelta) -> None:
        """Move the emulators' clock (and the bot's: they share it) and finish every pending provider job."""
        self.clock.advance(delta)
        for emulator in self.emulators():
            finish = getattr(emulator, "complete_all", None)
            if finish is not None:
                finish()

    def emulators(self) -> list[Any]:
        return [self.feishu, self.compensation, self.juhe, self.tcredit]

    def deliver_to(self, url: str, *, encrypt_key: str, verification_token: str) -> None:
        self.feishu.target = DeliveryTarget(url, encrypt_key, verification_token, SANDBOX_APP_ID)

    def deliver_over_longconn(self) -> None:
        """Events and card actions go down the bot's long connection (queued while it is not connected)."""
        self.longconn.subscribed = True

    def app(self) -> web.Application:
        root = web.Application(middlewares=[self.holds.middleware])
        root.add_subapp("/feishu/", self.feishu.app())
        root.add_subapp("/juhe-v/", self.juhe.v_app())
        root.add_subapp("/juhe-apis/", self.juhe.apis_app())
        root.add_subapp("/tcredit/", self.tcredit.app())
        # The driving API has no login: the console's guard (no DNS rebinding, no cross-site text/plain post).
        guard = (lambda handler: handler) if self.public else local_only
        root.router.add_post("/sandbox/api/say", guard(self._say))
        root.router.add_post("/sandbox/api/click", guard(self._click))
        root.router.add_get("/sandbox/api/messages", guard(self._messages))
        root.router.add_get("/sandbox/api/images/{key}", guard(self._image))
        root.router.add_get(SOCKET_PATH, self.longconn.socket)
        root.on_shutdown.append(self.longconn.close_all)
        return root

    def feishu_app(self) -> web.Application:
        """The Open API alone, with the long connection's socket (its endpoint answers a URL on the same origin)."""
        app = self.feishu.app()
        # The bot calls Feishu here: a test's held calls (bot/sandbox/holds.py) are held on this origin too.
        app.middlewares.insert(0, self.holds.middleware)
        app.router.add_get(SOCKET_PATH, self.longconn.socket)
        return app

    async def start(self, host: str, port: int) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{host}:{bound[1]}"
        self._feishu_runner = web.AppRunner(self.feishu_app(), access_log=None)
        await self._feishu_runner.setup()
        await web.TCPSite(self._feishu_runner, host, 0).start()
        self.feishu_url = f"http://{host}:{self._feishu_runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        # Long connections first: a socket open on either origin would hold its runner's shutdown.
        await self.longconn.close_all()
        for runner in (self._feishu_runner, self._runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._feishu_runner = None

    # Driving API (used by `hrbot say`, the console and tests) --------------------------------------------------
    async def _say(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not self.feishu.directory.has_user(str(body.get("user"))):
            personas = ", ".join(f"{p.open_id} ({p.name})" for p in PERSONAS)
            return web.json_response(
                {"error": f"unknown user {body.get('user')!r}; the personas are {personas}"}, status=400
            )
        if self.feishu.target is None and not self.longconn.subscribed:
            # The bot answers /healthz before it has finished starting; the sandbox learns its address after.
            return web.json_response(
                {"error": "the bot is still starting; try again in a moment"}, status=503
            )
        try:
            message = await self.feishu.user_says(
                str(body["text"]), user=str(body["user"]), chat_id=str(body["chat_id"])
            )
        except KeyError as exc:
            return web.json_response({"error": f"unknown {exc}"}, status=400)
        except EventNotDelivered as exc:
            return web.json_response({"error": str(exc)}, status=502)
        return web.json_response(message.to_json())

    async def _click(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("message_id") not in self.feishu.messages:
            return web.json_response({"error": "unknown message"}, status=400)
        answer = await self.feishu.user_clicks(
            body["message_id"],
            user=str(body["user"]),
            value=body.get("value") or {},
            form_value=body.get("form_value"),
            option=body.get("option"),
            tag=body.get("tag", "button"),
        )
        return web.json_response(answer)

    async def _messages(self, request: web.Request) -> web.Response:
        chat_id = request.query.get("chat_id")
        reply_to = request.query.get("reply_to")
        messages = [
            m.to_json()
            for m in self.feishu.messages.values()
            if (chat_id is None or m.chat_id == chat_id) and (reply_to is None or m.reply_to == reply_to)
        ]
        return web.json_response(messages)

    async def _image(self, request: web.Request) -> web.Response:
        data = self.feishu.images.get(request.match_info["key"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/png")
