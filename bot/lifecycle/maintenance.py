"""The core's own housekeeping jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.lifecycle.services import Services
from bot.routing.router import Router
from bot.state.dialogs import purge_dialogs
from bot.trust import audit
from bot.trust.consent import Consents

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


# Retention of personal data (docs/privacy.md): each table the core keeps has its time and its purge.
@router.every(timedelta(hours=1), id="purge_audit")
async def purge_audit(services: Services) -> None:
    """Audit rows, and withdrawn consents, older than HRBOT_AUDIT_RETENTION_DAYS."""
    retention = timedelta(days=services.settings.hrbot_audit_retention_days)
    removed = await audit.purge(services.store, retention)
    withdrawn = await Consents(services.store).purge(retention)
    if removed or withdrawn:
        log.info("purged %d audit rows and %d withdrawn consents", removed, withdrawn)


@router.every(timedelta(hours=1), id="purge_dialogs")
async def purge_old_dialogs(services: Services) -> None:
    """Dialogs whose last step is older than HRBOT_DIALOG_RETENTION_DAYS."""
    removed = await purge_dialogs(
        services.store, timedelta(days=services.settings.hrbot_dialog_retention_days)
    )
    if removed:
        log.info("purged %d dialogs", removed)


@router.every(timedelta(hours=1), id="purge_cache")
async def purge_cache(services: Services) -> None:
    """Cached provider answers past their time (database rows; Redis keys by the bot's clock)."""
    removed = await services.store.purge_cache()
    if removed:
        log.info("purged %d cached provider answers", removed)


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
