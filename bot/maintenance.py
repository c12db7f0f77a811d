"""Housekeeping jobs the scheduler runs."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot import runtime

log = logging.getLogger("hrbot.maintenance")


async def purge_processed_events() -> None:
    services = runtime.current()
    removed = await services.store.purge_processed(
        timedelta(hours=services.settings.hrbot_dedup_retention_hours)
    )
    if removed:
        log.info("purged %d processed-event keys", removed)
