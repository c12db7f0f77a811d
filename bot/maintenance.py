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


@router.every(timedelta(minutes=5), id="ledger_lost_calls")
async def ledger_lost_calls(services: Services) -> None:
    """Billed calls a crash left pending: their outcome is unknown."""
    lost = await services.ledger.mark_lost()
    if lost:
        log.warning("%d billed call(s) were cut off mid-call: marked unknown in the ledger", lost)


@router.every(timedelta(hours=24), id="purge_ledger")
async def purge_ledger(services: Services) -> None:
    removed = await services.ledger.purge()
    if removed:
        log.info("purged %d ledger rows past HRBOT_LEDGER_RETENTION_DAYS", removed)


@router.on_startup
async def ledger_lost_at_start(services: Services) -> None:
    await ledger_lost_calls(services)
