"""The bot's own open_id, which group @-mentions are matched against: fetched at start, retried in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential, wait_random

from bot.cancelling import cancel_and_wait
from bot.feishu.client import CredentialsRefused, FeishuClient, FeishuError, FeishuUnreachable

log = logging.getLogger("hrbot.identity")

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 120.0
_TRANSIENT = (FeishuError, FeishuUnreachable)


class BotIdentity:
    """Until `/bot/v3/info` answers, group messages cannot be recognised as addressed to the bot and are ignored."""

    def __init__(self, feishu: FeishuClient, on_found: Callable[[str], None]) -> None:
        self._feishu = feishu
        self._on_found = on_found
        self.open_id = ""
        self.problem = ""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One attempt now. Refused credentials raise (start-up stops); Feishu unreachable or failing is retried
        in the background with backoff, said once in the log."""
        try:
            await self._fetch()
            return
        except CredentialsRefused:
            raise
        except _TRANSIENT as exc:
            self.problem = f"Feishu's bot info is unavailable ({_describe(exc)})"
            log.warning(
                "could not fetch the bot's info from Feishu (%s): group messages are ignored until it succeeds; "
                "retrying in the background",
                _describe(exc),
            )
        self._task = asyncio.create_task(self._retry(), name="bot-identity")

    def readiness(self) -> tuple[bool, str]:
        """For /readyz: ready once the open_id is known; otherwise why not."""
        return (True, "") if self.open_id else (False, self.problem or "bot info not fetched yet")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _retry(self) -> None:
        await asyncio.sleep(FIRST_RETRY_SECONDS)
        async for attempt in AsyncRetrying(
            # Refused credentials too (once running, a rotated secret is fixed by the operator; the bot keeps going).
            retry=retry_if_exception_type(_TRANSIENT),
            wait=wait_exponential(multiplier=FIRST_RETRY_SECONDS, max=MAX_RETRY_SECONDS)
            + wait_random(0, FIRST_RETRY_SECONDS),
        ):
            with attempt:
                await self._fetch()
        log.info("fetched the bot's info from Feishu: group messages are answered again")

    async def _fetch(self) -> None:
        open_id = str((await self._feishu.bot_info()).get("open_id", ""))
        if not open_id:
            raise FeishuError(-1, "bot info without open_id")
        self.open_id = open_id
        self.problem = ""
        self._on_found(open_id)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
