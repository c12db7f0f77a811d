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
from bot.ingress.limits import RESERVED_FDS, Connections, GuardedSite, harden, raise_fd_limit, runner_options
from bot.ingress.webhook import Webhook
from bot.leader import Lease
from bot.migrations import upgrade
from bot.readiness import Readiness, StorageCheck, redis_check
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


# What a live bot needs per ingress mode; FEISHU_BASE_URL alone never makes a bot live.
LIVE_SETTINGS = {
    "webhook": ("feishu_app_id", "feishu_app_secret", "feishu_verification_token"),
    "ws": ("feishu_app_id", "feishu_app_secret"),
}


def check_live_settings(settings: Settings, mode: str) -> None:
    """One app credential set means live mode: the rest of the live set must be there, else refuse to start."""
    missing = [name.upper() for name in LIVE_SETTINGS[mode] if not getattr(settings, name)]
    if missing:
        raise ConfigError(
            f"missing setting {', '.join(missing)}: required for live mode with --mode {mode} "
            "(unset FEISHU_APP_ID and FEISHU_APP_SECRET both for the sandbox)"
        )


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
        self._longconn: Any = None
        self.lease: Lease | None = None
        # Readiness checks by name; other parts of the bot (long connection, Feishu reachability) add theirs.
        self.readiness = Readiness()
        self.connections: Connections | None = None

    async def start(self) -> None:
        settings = self.settings
        if settings.sandbox and self.mode == "ws":
            # The emulators deliver events the way the webhook receives them; a long connection needs real Feishu.
            log.warning("sandbox mode has no long connection: events arrive through the webhook")
            self.mode = "webhook"
        if settings.sandbox:
            self.sandbox = Sandbox(self.clock, employees=self._sandbox_employees)
            # The emulators' drive API has no login either: loopback only, like the console, unless opened.
            sandbox_host = settings.hrbot_host if settings.hrbot_console_public else "127.0.0.1"
            await self.sandbox.start(sandbox_host, settings.hrbot_sandbox_port)
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
        storage = StorageCheck(store)
        await storage.remember()
        self.readiness.add("storage", storage)
        if redis is not None:
            self.readiness.add("redis", redis_check(redis))
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
            max_age_seconds=settings.hrbot_max_request_age.total_seconds(),
        )
        app = web.Application(client_max_size=1024 * 1024)
        harden(app)
        if self.mode == "webhook":
            # With the long connection, events come only through it: no open door for posted envelopes.
            app.router.add_post("/feishu/events", webhook.handle)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        if self.sandbox is not None:
            from bot.console.server import mount

            mount(app, self, public=settings.hrbot_console_public)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, **runner_options())
        await self._runner.setup()
        fds = raise_fd_limit(settings.hrbot_max_connections + RESERVED_FDS)
        self.connections = Connections(min(settings.hrbot_max_connections, max(fds - RESERVED_FDS, 64)))
        site = GuardedSite(self._runner, settings.hrbot_host, settings.hrbot_port, self.connections)
        await site.start()
        self.url = f"http://{settings.hrbot_host}:{self._runner.addresses[0][1]}"
        if self.sandbox is not None:
            self.sandbox.deliver_to(
                f"{self.url}/feishu/events",
                encrypt_key=settings.feishu_encrypt_key,
                verification_token=settings.feishu_verification_token,
            )
        if self.mode == "ws":
            from bot.ingress.longconn import LongConnection

            self._longconn = LongConnection(self.pipeline, settings, asyncio.get_running_loop())
            self._longconn.start()
        # What start-up built lives as long as the process: keep the collector from re-scanning it every pass.
        gc.freeze()
        log.info("listening on %s (events at %s/feishu/events)", self.url, self.url)
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
        if self.sandbox is not None:
            body["sandbox_url"] = self.sandbox.url
        return web.json_response(body)

    async def _readyz(self, _request: web.Request) -> web.Response:
        ready, checks = await self.readiness.run()
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
        )

    async def stop(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.drain(SHUTDOWN_GRACE_SECONDS)
        if self._longconn is not None:
            self._longconn.stop()
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
