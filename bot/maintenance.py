"""The core's own housekeeping jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.router import Router
from bot.services import Services

log = logging.getLogger("hrbot.maintenance")

router = Router("maintenance")


@router.every(
    timedelta(hours=1), id="purge_processed_events", legacy="bot.maintenance:purge_processed_events"
)
async def purge_processed_events(services: Services) -> None:
    removed = await services.store.purge_processed(
        timedelta(hours=services.settings.hrbot_dedup_retention_hours)
    )
    if removed:
        log.info("purged %d processed-event keys", removed)
