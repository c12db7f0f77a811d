"""`hrbot doctor` without credentials examines the running sandbox bot's emulated tenant, so a newcomer sees what it
will check on go-live day (found through the bot's /healthz, as `hrbot whoami` finds it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from bot.clock import Clock
from bot.config import SANDBOX_ENCRYPT_KEY, SANDBOX_VERIFICATION_TOKEN, Settings
from bot.lifecycle.doctor import Target
from bot.lifecycle.features import Feature
from bot.sandbox.directory import HR, MANAGER
from bot.sandbox.server import Sandbox


async def sandbox_target(settings: Settings, features: Sequence[Feature]) -> Target | None:
    """The doctor's view of the sandbox bot at HRBOT_HOST:HRBOT_PORT; None when none answers there."""
    bot_url = f"http://{settings.hrbot_host}:{settings.hrbot_port}"
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            health = (await http.get(f"{bot_url}/healthz")).json()
    except (httpx.HTTPError, ValueError):
        return None
    sandbox_url = health.get("sandbox_url") if isinstance(health, dict) else None
    if not sandbox_url:
        return None
    sandbox = Sandbox(Clock(), employees=1)
    sandbox.url = str(sandbox_url)
    # The sandbox also serves Feishu under its own /feishu path (the bot itself is given a separate origin).
    sandbox.feishu_url = f"{sandbox.url}/feishu"
    # As SandboxedBot configures the bot it runs.
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
    for feature in features:
        defaults.update(feature.sandbox_defaults)
    return Target(
        core,
        features,
        mode=str(health.get("ingress") or "webhook"),
        public_url=bot_url,
        overrides=sandbox.provider_settings(),
        defaults=defaults,
    )
