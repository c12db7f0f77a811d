"""The sandbox composed around a bot: embedded emulators, the bot's clients pointed at them, and the console.

Used by `hrbot serve` when no Feishu credentials are configured, and by the tests. The production app imports none
of this.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from bot.clock import Clock
from bot.config import SANDBOX_ENCRYPT_KEY, SANDBOX_VERIFICATION_TOKEN, Settings
from bot.lifecycle.app import BotApp
from bot.lifecycle.features import Feature, discover
from bot.sandbox.directory import HR, MANAGER
from bot.sandbox.server import Sandbox

log = logging.getLogger("hrbot")


class SandboxedBot:
    """A bot and its sandbox, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        features: Sequence[Feature] | None = None,
        mode: str = "webhook",
        clock: Clock | None = None,
        employees: int = 10_000,
        env_file: str | None = ".env",
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.sandbox = Sandbox(self.clock, employees=employees)
        self.features = list(discover() if features is None else features)
        self.mode = mode
        self._env_file = env_file
        self._overrides = dict(overrides or {})
        self.app: BotApp | None = None

    async def start(self) -> BotApp:
        settings = self.settings
        sandbox = self.sandbox
        # The emulators' drive API has no login either: loopback only, like the console, unless opened.
        sandbox_host = settings.hrbot_host if settings.hrbot_console_public else "127.0.0.1"
        sandbox.public = settings.hrbot_console_public
        await sandbox.start(sandbox_host, settings.hrbot_sandbox_port)
        # The sandbox signs and encrypts like Feishu, with its own keys unless some are configured.
        core = settings.model_copy(
            update={
                **sandbox.feishu_settings(),
                "feishu_encrypt_key": settings.feishu_encrypt_key or SANDBOX_ENCRYPT_KEY,
                "feishu_verification_token": settings.feishu_verification_token or SANDBOX_VERIFICATION_TOKEN,
                "hrbot_hr_open_ids": settings.hrbot_hr_open_ids or HR,
                "hrbot_managers": settings.hrbot_managers or MANAGER,
            }
        )
        defaults: dict[str, Any] = {}
        for feature in self.features:
            defaults.update(feature.sandbox_defaults)
        log.info("sandbox mode: no Feishu credentials, using the embedded emulators at %s", sandbox.url)
        app = BotApp(
            core,
            features=self.features,
            mode=self.mode,
            clock=self.clock,
            env_file=self._env_file,
            overrides={**sandbox.provider_settings(), **self._overrides},
            defaults=defaults,
            http_extensions=[self._mount_console],
        )
        app.health.update(mode="sandbox", sandbox_url=sandbox.url)
        self.app = app
        await app.start()
        sandbox.deliver_to(
            f"{app.url}/feishu/events",
            encrypt_key=core.feishu_encrypt_key,
            verification_token=core.feishu_verification_token,
        )
        if self.mode == "ws":
            # As choosing the long connection in Feishu's developer console: events go down the connection.
            sandbox.deliver_over_longconn()
        print(f"console: {app.url}/console", flush=True)
        return app

    def _mount_console(self, web_app: web.Application, app: BotApp) -> None:
        from bot.console.server import mount

        mount(web_app, app, self.sandbox, public=app.settings.hrbot_console_public)

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
        await self.sandbox.stop()
