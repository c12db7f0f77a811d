"""Filing-deadline reminders: N days before a city's monthly cutoff, the digest chats get that city's records to file.

The cutoffs are data the company edits (HRBOT_FILING_CALENDAR, a TOML file; fields in
handlers/adjust_records/filing-calendar.example.toml). The check runs hourly on the bot's clock, so the sandbox console's
fast-forward reaches a reminder; each (city, cutoff, days before) is sent once.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from bot.lifecycle.services import Services
from bot.trust import audit
from cards.adjust_records import DigestView, reminder_card
from handlers.adjust_records.audience import chat_audience, digest_chats
from handlers.adjust_records.collect import collect_records
from handlers.adjust_records.deadlines import CityDeadline, load_calendar
from handlers.adjust_records.digest import people_in, save_snapshot
from handlers.adjust_records.router import router
from handlers.adjust_records.settings import settings_of

log = logging.getLogger("hrbot.adjust_records")

CALENDAR_KEY = "adjust-records-filing-calendar"
REMINDER_SENT = "增减员申报提醒"  # audit kind


@router.on_startup
async def read_calendar(services: Services) -> None:
    """The settings model has checked the file already (before the bot listens)."""
    path = settings_of(services).hrbot_filing_calendar
    services.providers[CALENDAR_KEY] = load_calendar(path) if path else []


@router.every(timedelta(hours=1), id="filing_reminders")
async def run_filing_reminders(services: Services) -> None:
    """Without a calendar there is nothing to remind of."""
    await send_filing_reminders(services, services.local().date())


async def send_filing_reminders(services: Services, today: date) -> list[str]:
    """Remind the digest chats of every city whose cutoff is HRBOT_FILING_REMIND_DAYS away; returns those cities."""
    calendar_: list[CityDeadline] = services.providers.get(CALENDAR_KEY) or []
    due = []
    for city in calendar_:
        cutoff = city.cutoff(today)
        days_left = (cutoff - today).days
        key = f"filing:{city.code}:{cutoff.isoformat()}:{days_left}"
        if days_left in settings_of(services).filing_remind_days and not await services.store.claimed(key):
            due.append((city, cutoff, days_left, key))
    if not due:
        return []
    collection = await collect_records(services)
    reminded = []
    for city, cutoff, days_left, key in due:
        lines = [line for line in collection.lines if city.files(line, today)]
        if lines:
            keys = [line.key for line in lines]
            snapshot = await save_snapshot(services, keys, keys)
            for chat_id in await digest_chats(services):
                try:
                    audience = await chat_audience(services, chat_id)
                    view = DigestView(
                        lines=lines, current_month=f"{today:%Y-%m}", full=audience.full, snapshot=snapshot
                    )
                    card = reminder_card(
                        city.name,
                        datetime.combine(cutoff, datetime.min.time()),
                        days_left,
                        view,
                        queried_at=services.local(),
                    )
                    await services.feishu.send_card(chat_id, card, idempotency_key=f"{key}:{chat_id}")
                    await audit.delivered(
                        services.store, audit.SYSTEM, REMINDER_SENT, chat_id, people_in(lines)
                    )
                except Exception:
                    log.exception("could not send the %s filing reminder to chat %s", city.name, chat_id)
            reminded.append(city.name)
        # Nothing to file is nothing to say; either way this reminder is done.
        await services.store.claim([key])
    return reminded
