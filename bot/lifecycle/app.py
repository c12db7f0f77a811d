"""Start and stop one bot, in small steps: build services → start HTTP → start background work.

The app knows no feature (it is handed a list, or finds the installed ones) and no sandbox: the sandbox and its
console are composed around it from outside (`bot.sandbox.compose`), through the `http_extensions` hook.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.cancelling import cancel_and_wait
from bot.clock import Clock
from bot.config import ConfigError, Settings, SettingsModel, load_settings
from bot.feishu.client import FeishuClient
from bot.feishu.identity import BotIdentity
from bot.ingress.direct_route import EVENTS_PATH, route_events_directly
from bot.ingress.events import EventPipeline
from bot.ingress.limits import RESERVED_FDS, Connections, GuardedSite, harden, raise_fd_limit, runner_options
from bot.ingress.longconn import LongConnection
from bot.ingress.webhook import Webhook
from bot.lifecycle import maintenance
from bot.lifecycle.collector import young_collection_threshold
from bot.lifecycle.features import Feature, build_catalogue, build_dispatcher, discover, migration_locations
from bot.lifecycle.health import CachedReadiness, RememberedFailure
from bot.lifecycle.health import answer as health_answer
from bot.lifecycle.readiness import Readiness, SchedulerCheck, StorageCheck, redis_check
from bot.lifecycle.services import Services
from bot.observability import metrics
from bot.providers.billed import billed_providers
from bot.routing.router import Dispatcher
from bot.state.inbox import Inbox, Sealer
from bot.state.leader import Lease
from bot.state.migrations import upgrade
from bot.state.redis_state import RedisState
from bot.state.scheduler import Scheduler
from bot.state.store import Store
from bot.trust.ledger import month_bounds

log = logging.getLogger("hrbot")

SHUTDOWN_GRACE_SECONDS = 10.0
# Connections the metrics listener takes at once (scrapers and health probes).
METRICS_CONNECTIONS = 64
# Then a scheduled job still running gets this long; past it, it is cut short (jobs are keyed: it runs again).
JOB_GRACE_SECONDS = 5.0

HttpExtension = Callable[[web.Application, "BotApp"], None]


# What a live bot needs per ingress mode; FEISHU_BASE_URL alone never makes a bot live. The webhook needs the Encrypt
# Key too: without it Feishu signs nothing, so neither a forged nor a replayed request could be told apart.
LIVE_SETTINGS = {
    "webhook": ("feishu_app_id", "feishu_app_secret", "feishu_verification_token", "feishu_encrypt_key"),
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
    """One running bot. `start()` returns once it listens; `stop()` shuts down in order.

    `overrides` win over the environment for every settings model (features' and providers' too); `defaults` fill
    what the environment left empty. `env_file` is read by every settings model.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        features: Sequence[Feature] | None = None,
        mode: str = "webhook",
        clock: Clock | None = None,
        env_file: str | None = ".env",
        overrides: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        http_extensions: Sequence[HttpExtension] = (),
    ) -> None:
        self.settings = settings
        self.features = list(discover() if features is None else features)
        self.dispatcher = Dispatcher()
        self.mode = mode
        self.clock = clock or Clock()
        self.services: Services | None = None
        self.pipeline: EventPipeline | None = None
        self.lease: Lease | None = None
        self.inbox: Inbox | None = None
        self.identity: BotIdentity | None = None
        # Readiness checks by name; other parts of the bot (long connection, Feishu reachability) add theirs.
        self.readiness = Readiness()
        self._ready = CachedReadiness(self.readiness)
        self.connections: Connections | None = None
        self.url = ""
        # What /healthz says beyond the basics (the sandbox adds its address).
        self.health: dict[str, Any] = {"mode": "live"}
        # What /readyz says beyond its checks without deciding readiness: the live tenant's scope state.
        self.tenant: dict[str, Any] = {}
        self._golive: asyncio.Task[None] | None = None
        self._env_file = env_file
        self._overrides = dict(overrides or {})
        self._defaults = dict(defaults or {})
        self._http_extensions = list(http_extensions)
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self._jobs_running: set[asyncio.Task[Any]] = set()
        self.metrics_url = ""
        self.longconn: LongConnection | None = None

    def load_settings(self, model: type[SettingsModel]) -> SettingsModel:
        return load_settings(
            model, env_file=self._env_file, overrides=self._overrides, defaults=self._defaults
        )

    async def start(self) -> None:
        await self.build_services()
        await self.start_http()
        await self.start_background()
        # What start-up built lives as long as the process: keep the collector from re-scanning it every pass.
        gc.freeze()
        young_collection_threshold()

    # 1. Services -------------------------------------------------------------------------------------------------
    async def build_services(self) -> None:
        settings = self.settings
        if self.health["mode"] == "live":
            check_live_settings(settings, self.mode)
            log.info("live mode: Feishu at %s, ingress %s", settings.feishu_base_url, self.mode)
        # The registry of features and the dispatcher are built here, once; handlers read the catalogue.
        self.dispatcher = dispatcher = build_dispatcher(self.features, maintenance.router)
        retention = timedelta(hours=settings.hrbot_dedup_retention_hours)
        redis = RedisState(settings.hrbot_redis_url, retention) if settings.hrbot_redis_url else None
        if redis is not None:
            await redis.redis.ping()  # unreachable Redis must stop start-up, not fail every event later
        store = Store(settings.hrbot_database_url, self.clock, redis=redis)
        await asyncio.to_thread(upgrade, settings.hrbot_database_url, migration_locations(self.features))
        await store.open()
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
            settings=settings,
            clock=self.clock,
            store=store,
            feishu=feishu,
            load_settings=self.load_settings,
            catalogue=build_catalogue(self.features, dispatcher),
        )
        self.services = services
        # Every feature's settings are read now, so a bad value stops start-up rather than the first use.
        for feature in self.features:
            for model in feature.settings:
                services.settings_of(model)
        self.identity = BotIdentity(
            feishu, on_found=lambda open_id: setattr(services, "bot_open_id", open_id)
        )
        await self.identity.start()
        self.readiness.add("feishu_bot_info", self._identity_ready)
        self.readiness.add("tenant_token", RememberedFailure(self._token_ready))
        services.scheduler = Scheduler(settings, self._run_job)
        self.inbox = Inbox(
            store,
            Sealer(settings.feishu_app_secret, settings.feishu_encrypt_key),
            # A port chosen by the system (0) names no place a successor would start in again.
            home=f"{socket.gethostname()}:{settings.hrbot_port or uuid.uuid4().hex[:8]}",
        )
        # Alive before the first claim: events this replica accepts are not taken for a dead one's.
        await self.inbox.beat()
        self.pipeline = EventPipeline(services, dispatcher, self.inbox)

    async def _run_job(self, job_id: str, *args: Any) -> None:
        services = self.services
        assert services is not None
        schedule = self.dispatcher.schedules.get(job_id)
        if schedule is None:
            # A job a removed feature left in the store: nothing runs it any more.
            log.warning("no job %r is registered; removing it", job_id)
            assert services.scheduler is not None
            services.scheduler.remove(job_id)
            return
        task = asyncio.current_task()
        assert task is not None
        self._jobs_running.add(task)
        try:
            if self.lease is not None and not await self.lease.holds():
                # Fenced: another replica took the lease since this one's scheduler woke up; the job is theirs now.
                log.info("scheduled job %s skipped: this replica no longer holds the scheduler lease", job_id)
                return
            await schedule.handler(services, *args)
        except asyncio.CancelledError:
            # Only stop() cancels a job, past its grace: no error for the scheduler to log, it runs again later.
            log.info("scheduled job %s was cut short by the shutdown", job_id)
        finally:
            self._jobs_running.discard(task)

    # 2. HTTP -------------------------------------------------------------------------------------------------------
    async def start_http(self) -> None:
        assert self.pipeline is not None
        settings = self.settings
        webhook = Webhook(
            self.pipeline,
            encrypt_key=settings.feishu_encrypt_key,
            verification_token=settings.feishu_verification_token,
            max_age_seconds=settings.hrbot_max_request_age.total_seconds(),
        )
        app = web.Application(client_max_size=1024 * 1024)
        harden(app)
        if self.mode == "webhook":
            # With the long connection, events come only through it: no open door for posted envelopes. The POST
            # itself takes the direct route below; the application's route answers other methods (405).
            app.router.add_post(EVENTS_PATH, webhook.handle)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        for extend in self._http_extensions:
            extend(app, self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, **runner_options())
        await self._runner.setup()
        if self.mode == "webhook":
            assert self._runner.server is not None
            route_events_directly(self._runner.server, webhook.handle)
        fds = raise_fd_limit(settings.hrbot_max_connections + RESERVED_FDS)
        self.connections = Connections(min(settings.hrbot_max_connections, max(fds - RESERVED_FDS, 64)))
        site = GuardedSite(self._runner, settings.hrbot_host, settings.hrbot_port, self.connections)
        await site.start()
        self.url = f"http://{settings.hrbot_host}:{self._runner.addresses[0][1]}"
        if self.mode == "webhook":
            log.info("listening on %s (events at %s/feishu/events)", self.url, self.url)
        else:
            log.info("listening on %s (health only: events come over the long connection)", self.url)
        await self._start_metrics()

    async def _start_metrics(self) -> None:
        """GET /metrics on its own listener (loopback by default): never on the events port."""
        settings = self.settings
        if not settings.hrbot_metrics_port:
            return
        # The same limits as the events port: slow heads and bodies cut off, connections capped, no version shown.
        app = web.Application(client_max_size=1024)
        harden(app)
        app.router.add_get("/metrics", self._metrics)
        # Health with its details, for operators.
        app.router.add_get("/healthz", self._healthz_details)
        app.router.add_get("/readyz", self._readyz_details)
        self._metrics_runner = web.AppRunner(app, access_log=None, handle_signals=False, **runner_options())
        await self._metrics_runner.setup()
        site = GuardedSite(
            self._metrics_runner,
            settings.hrbot_metrics_host,
            settings.hrbot_metrics_port,
            Connections(METRICS_CONNECTIONS),
        )
        try:
            await site.start()
        except OSError as exc:
            # Metrics are for operators: a taken port must not stop the bot answering people.
            log.error(
                "metrics not served: cannot listen on %s:%s (%s); set HRBOT_METRICS_PORT",
                settings.hrbot_metrics_host,
                settings.hrbot_metrics_port,
                exc.strerror or type(exc).__name__,
            )
            await self._metrics_runner.cleanup()
            self._metrics_runner = None
            return
        port = self._metrics_runner.addresses[0][1]
        self.metrics_url = f"http://{settings.hrbot_metrics_host}:{port}/metrics"
        log.info("metrics at %s", self.metrics_url)

    async def _metrics(self, _request: web.Request) -> web.Response:
        try:
            await self._refresh_metrics()
        except Exception:
            # Counters still go out; the gauges read from storage keep their last values.
            log.exception("could not refresh the metrics read from storage")
        return web.Response(body=metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def _refresh_metrics(self) -> None:
        """Gauges of shared state, read when scraped."""
        services = self.services
        assert services is not None
        metrics.SCHEDULER_LEADER.set(1 if self.lease is not None and self.lease.leading else 0)
        metrics.PENDING_JOBS.labels("events").set(self.pipeline.in_flight if self.pipeline else 0)
        for kind, probe in services.pending_probes.items():
            metrics.PENDING_JOBS.labels(kind).set(await probe())
        month, _next = month_bounds(services.clock.now(), services.settings)
        for api in billed_providers(services):
            breaker = await services.ledger.breaker(api.provider)
            metrics.BREAKER_STATE.labels(api.provider).set(metrics.BREAKER_VALUES.get(breaker.state, 0))
            spent = await services.ledger.spent(api.provider, month) if api.monthly_budget else 0.0
            metrics.BUDGET_USED.labels(api.provider).set(
                spent / api.monthly_budget if api.monthly_budget else 0.0
            )
        if self.longconn is not None:
            state = self.longconn.state()
            metrics.LONGCONN_CONNECTED.set(1 if state.status == "connected" else 0)

    # 3. Background work -------------------------------------------------------------------------------------------
    async def start_background(self) -> None:
        services = self.services
        assert services is not None and services.scheduler is not None and self.pipeline is not None
        scheduler = services.scheduler
        schedules = self.dispatcher.schedules.values()
        await asyncio.to_thread(scheduler.adopt, {s.legacy: s.id for s in schedules if s.legacy})
        scheduler.start()
        # Its job store exists once started (on SQLite, a file of its own).
        scheduler_storage = SchedulerCheck(scheduler.engine)
        await scheduler_storage.remember()
        self.readiness.add("scheduler_storage", scheduler_storage)
        self._register_schedules()
        await self.dispatcher.run_startup(services)
        assert self.inbox is not None
        await self.inbox.start(self.pipeline.resume)
        self.lease = Lease(
            services.store, on_gain=self._lead, on_loss=scheduler.pause, on_renew=scheduler.wakeup
        )
        await self.lease.start()
        if self.mode == "ws":
            self.longconn = LongConnection(self.pipeline, self.settings)
            self.longconn.start()
            self.readiness.add("long_connection", self._longconn_ready)
        if self.health["mode"] == "live":
            self._golive = asyncio.create_task(self._go_live_checks())

    def _register_schedules(self) -> None:
        """Store each recurring job; one already stored keeps its next run time."""
        services = self.services
        assert services is not None and services.scheduler is not None
        for schedule in self.dispatcher.schedules.values():
            if schedule.every is not None:
                services.scheduler.every(schedule.id, schedule.value(services))
            elif schedule.cron is not None:
                services.scheduler.cron(schedule.id, schedule.value(services))

    def _lead(self) -> None:
        """This replica runs the scheduled work from now on. A job that exists only while it has work (个人社保's
        poll) may have removed itself just before the previous leader died with new work already waiting: stored
        again here, it runs and finds that work (or removes itself again)."""
        assert self.services is not None and self.services.scheduler is not None
        self.services.scheduler.resume()  # first: a store that fails the registration must not keep it paused
        self._register_schedules()

    async def _go_live_checks(self) -> None:
        """`hrbot doctor`'s checks once: each failure one WARNING naming the fix; a missing scope only disables what
        needs it, so the bot serves on (and /readyz says which scopes are missing)."""
        from bot.lifecycle.doctor import Target, warn_at_startup

        self.tenant["feishu_scopes"] = "checking"
        target = Target(
            self.settings,
            self.features,
            mode=self.mode,
            env_file=self._env_file,
            overrides=self._overrides,
            defaults=self._defaults,
            ingress=bool(self.settings.hrbot_public_url) and self.mode == "webhook",
        )
        await warn_at_startup(target, lambda state: self.tenant.update(feishu_scopes=state))

    async def _healthz(self, request: web.Request | None) -> web.Response:
        """Liveness: "ok", or 503 "down" while the long connection's task is not running."""
        details: dict[str, Any] = {
            **self.health,
            "ingress": self.mode,
            "in_flight": self.pipeline.in_flight if self.pipeline else 0,
        }
        alive = True
        if self.longconn is not None:
            details["longconn"] = self.longconn.state().as_json()
            alive = self.longconn.running or self.longconn.state().status == "stopped"
        return health_answer(request, 200 if alive else 503, "ok" if alive else "down", details)

    async def _healthz_details(self, _request: web.Request) -> web.Response:
        return await self._healthz(None)

    async def _readyz_details(self, _request: web.Request) -> web.Response:
        return await self._readyz(None)

    async def _identity_ready(self) -> str | None:
        assert self.identity is not None
        ready, why = self.identity.readiness()
        return None if ready else why

    async def _token_ready(self) -> str | None:
        """A tenant token is held (or can be fetched now): without one nothing can be sent."""
        assert self.services is not None
        try:
            await self.services.feishu.tenant_token()
        except Exception as exc:
            return f"no tenant token ({type(exc).__name__})"
        return None

    async def _longconn_ready(self) -> str | None:
        assert self.longconn is not None
        if self.longconn.ready():
            return None
        return f"long connection down for {self.longconn.state().down_seconds:.0f} s"

    async def _readyz(self, request: web.Request | None) -> web.Response:
        ready, checks = await self._ready.run()
        # Either role is ready: followers answer events, the leader also runs the scheduled work.
        scheduler = "leader" if self.lease is not None and self.lease.leading else "follower"
        return health_answer(
            request,
            200 if ready else 503,
            "ready" if ready else "not ready",
            {"checks": checks, "scheduler": scheduler, **self.tenant},
        )

    async def _finish_jobs(self) -> None:
        """Scheduled work still running gets a short grace before the store and clients it uses are closed."""
        running = set(self._jobs_running)
        if not running:
            return
        log.info("stopping: waiting up to %.0f s for %d scheduled job(s)", JOB_GRACE_SECONDS, len(running))
        _done, late = await asyncio.wait(running, timeout=JOB_GRACE_SECONDS)
        await cancel_and_wait(*late)

    async def stop(self) -> None:
        if self._golive is not None:
            await cancel_and_wait(self._golive)
        if self.inbox is not None:
            await self.inbox.stop_taking()
        if self.longconn is not None:
            # First, so Feishu pushes new events to other replicas while in-flight work drains.
            await self.longconn.stop()
        if self.pipeline is not None:
            if self.pipeline.in_flight:
                log.info(
                    "stopping: waiting up to %.0f s for %d event(s) being handled",
                    SHUTDOWN_GRACE_SECONDS,
                    self.pipeline.in_flight,
                )
            await self.pipeline.drain(SHUTDOWN_GRACE_SECONDS)
        if self.inbox is not None:
            # What the grace cut short moves to another replica now (on SQLite: to the next start).
            await self.inbox.hand_back()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        if self.lease is not None:
            await self.lease.stop()
        if self.identity is not None:
            await self.identity.stop()
        services = self.services
        if services is not None:
            if services.scheduler is not None:
                # Paused, not shut down, while running jobs finish: APScheduler's shutdown cancels them.
                services.scheduler.pause()
                await self._finish_jobs()
                services.scheduler.shutdown()
            for client in services.providers.values():
                close = getattr(client, "aclose", None)
                if close is not None:
                    await close()
            await services.feishu.aclose()
            await services.store.dispose()
