"""Start and stop the bot: settings → sandbox (if no credentials) → store, clients, scheduler → HTTP ingress."""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot import runtime
from bot.clock import Clock
from bot.config import SANDBOX_ENCRYPT_KEY, SANDBOX_VERIFICATION_TOKEN, ConfigError, Settings
from bot.feishu import FeishuClient, FeishuError
from bot.ingress.events import EventPipeline
from bot.ingress.longconn import LongConnection
from bot.ingress.webhook import Webhook
from bot.leader import Lease
from bot.migrations import upgrade
from bot.redis_state import RedisState
from bot.runtime import Services
from bot.sandbox.server import Sandbox
from bot.scheduler import Scheduler
from bot.store import Store
from handlers import build_dispatcher

log = logging.getLogger("hrbot")

SHUTDOWN_GRACE_SECONDS = 10.0


def _sandbox_secrets(settings: Settings) -> dict[str, Any]:
    """The sandbox signs and encrypts like Feishu, with its own keys unless some are configured."""
    return {
        "feishu_encrypt_key": settings.feishu_encrypt_key or SANDBOX_ENCRYPT_KEY,
        "feishu_verification_token": settings.feishu_verification_token or SANDBOX_VERIFICATION_TOKEN,
    }


def check_live_settings(settings: Settings, mode: str) -> None:
    if mode == "webhook" and not settings.feishu_verification_token:
        raise ConfigError("missing setting FEISHU_VERIFICATION_TOKEN: required to accept webhook events")


class BotApp:
    """One running bot. `start()` returns once it listens; `stop()` shuts down in order."""

    def __init__(
        self,
        settings: Settings,
        *,
        mode: str = "webhook",
        clock: Clock | None = None,
        sandbox_employees: int = 10_000,
    ) -> None:
        self.mode = mode
        self.clock = clock or Clock()
        self.sandbox: Sandbox | None = None
        self.settings = settings
        self.services: Services | None = None
        self.pipeline: EventPipeline | None = None
        self.url = ""
        self._sandbox_employees = sandbox_employees
        self._runner: web.AppRunner | None = None
        self.longconn: LongConnection | None = None
        self.lease: Lease | None = None

    async def start(self) -> None:
        settings = self.settings
        if settings.sandbox:
            self.sandbox = Sandbox(self.clock, employees=self._sandbox_employees)
            await self.sandbox.start(settings.hrbot_host, settings.hrbot_sandbox_port)
            settings = settings.model_copy(
                update={
                    **self.sandbox.upstream_settings(),
                    **_sandbox_secrets(settings),
                    **self.sandbox.persona_settings(settings),
                }
            )
            log.info(
                "sandbox mode: no Feishu credentials, using the embedded emulators at %s", self.sandbox.url
            )
        else:
            check_live_settings(settings, self.mode)
            log.info("live mode: Feishu at %s, ingress %s", settings.feishu_base_url, self.mode)
        self.settings = settings

        retention = timedelta(hours=settings.hrbot_dedup_retention_hours)
        redis = RedisState(settings.hrbot_redis_url, retention) if settings.hrbot_redis_url else None
        store = Store(settings.hrbot_database_url, self.clock, redis=redis)
        await asyncio.to_thread(upgrade, settings.hrbot_database_url)
        feishu = FeishuClient(
            base_url=settings.feishu_base_url,
            app_id=settings.feishu_app_id,
            app_secret=settings.feishu_app_secret,
            clock=self.clock,
        )
        services = Services(
            settings=settings, clock=self.clock, store=store, feishu=feishu, dispatcher=build_dispatcher()
        )
        self.services = services
        services.bot_open_id = await self._bot_open_id(feishu)
        runtime.install(services)

        services.scheduler = Scheduler(settings)
        services.scheduler.start()
        services.scheduler.every(
            "maintenance.purge_processed_events", "bot.maintenance:purge_processed_events", timedelta(hours=1)
        )
        await services.dispatcher.run_startup(services)
        scheduler = services.scheduler
        self.lease = Lease(
            store, on_gain=scheduler.resume, on_loss=scheduler.pause, on_renew=scheduler.wakeup
        )
        await self.lease.start()

        self.pipeline = EventPipeline(services)
        webhook = Webhook(
            self.pipeline,
            encrypt_key=settings.feishu_encrypt_key,
            verification_token=settings.feishu_verification_token,
        )
        app = web.Application(client_max_size=1024 * 1024)
        if self.mode == "webhook":
            # With the long connection, events come only through it: no open door for posted envelopes.
            app.router.add_post("/feishu/events", webhook.handle)
        app.router.add_get("/healthz", self._healthz)
        if self.sandbox is not None:
            from bot.console.server import mount

            mount(app, self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.hrbot_host, settings.hrbot_port)
        await site.start()
        self.url = f"http://{settings.hrbot_host}:{self._runner.addresses[0][1]}"
        if self.sandbox is not None:
            self.sandbox.deliver_to(
                f"{self.url}/feishu/events",
                encrypt_key=settings.feishu_encrypt_key,
                verification_token=settings.feishu_verification_token,
            )
            if self.mode == "ws":
                self.sandbox.deliver_over_longconn()
        if self.mode == "ws":
            self.longconn = LongConnection(self.pipeline, settings)
            self.longconn.start()
        # What start-up built lives as long as the process: keep the collector from re-scanning it every pass.
        gc.freeze()
        events = "over the long connection" if self.mode == "ws" else f"at {self.url}/feishu/events"
        log.info("listening on %s (events %s)", self.url, events)
        if self.sandbox is not None:
            print(f"console: {self.url}/console", flush=True)

    async def _bot_open_id(self, feishu: FeishuClient) -> str:
        """Groups are answered only when the bot itself is @-mentioned, so it must know its open_id."""
        for attempt in range(3):
            try:
                return str((await feishu.bot_info()).get("open_id", ""))
            except (FeishuError, OSError) as exc:
                log.warning("could not fetch the bot's info (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.5 * (attempt + 1))
        log.error("bot info unavailable: group messages will be ignored until restart")
        return ""

    async def _healthz(self, _request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "status": "ok",
            "mode": "sandbox" if self.sandbox else "live",
            "ingress": self.mode,
            "in_flight": self.pipeline.in_flight if self.pipeline else 0,
        }
        if self.longconn is not None:
            body["longconn"] = self.longconn.state().as_json()
        if self.sandbox is not None:
            body["sandbox_url"] = self.sandbox.url
        return web.json_response(body)

    async def stop(self) -> None:
        if self.longconn is not None:
            # First, so Feishu pushes new events to other replicas while in-flight work drains.
            await self.longconn.stop()
        if self.pipeline is not None:
            await self.pipeline.drain(SHUTDOWN_GRACE_SECONDS)
        if self._runner is not None:
            await self._runner.cleanup()
        if self.lease is not None:
            await self.lease.stop()
        services = self.services
        if services is not None:
            if services.scheduler is not None:
                services.scheduler.shutdown()
            for client in services.providers.values():
                close = getattr(client, "aclose", None)
                if close is not None:
                    await close()
            await services.feishu.aclose()
            await services.store.dispose()
        runtime.install(None)
        if self.sandbox is not None:
            await self.sandbox.stop()
