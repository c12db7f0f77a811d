"""Filing-deadline reminders: N days before a city's monthly cutoff, the digest chats get that city's records to file.

The cutoffs are data the company edits (HRBOT_FILING_CALENDAR, a TOML file; fields in
handlers/adjust_records/filing-calendar.example.toml). The check runs hourly on the bot's clock, so the sandbox console's
fast-forward reaches a reminder; each (city, cutoff, days before) is sent once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from bot.lifecycle.services import Services
from bot.trust import audit
from cards.adjust_records import DigestView, RecordLine, filing_tally, overdue_card, reminder_card
from cards.common import Card
from handlers.adjust_records.audience import chat_audience, digest_chats
from handlers.adjust_records.deadlines import CityDeadline, load_calendar
from handlers.adjust_records.digest import people_in, save_snapshot
from handlers.adjust_records.filing_state import OPEN
from handlers.adjust_records.router import router
from handlers.adjust_records.settings import settings_of
from handlers.adjust_records.tracking import collect_with_filings

log = logging.getLogger("hrbot.adjust_records")

CALENDAR_KEY = "adjust-records-filing-calendar"
REMINDER_SENT = "增减员申报提醒"  # audit kinds
OVERDUE_SENT = "增减员逾期未申报"


@router.on_startup
async def read_calendar(services: Services) -> None:
    """The settings model has checked the file already (before the bot listens)."""
    path = settings_of(services).hrbot_filing_calendar
    services.providers[CALENDAR_KEY] = load_calendar(path) if path else []


@router.every(timedelta(hours=1), id="filing_reminders")
async def run_filing_reminders(services: Services) -> None:
    """Without a calendar there is nothing to remind of."""
    today = services.local().date()
    await send_filing_reminders(services, today)
    await send_overdue_notices(services, today)


async def send_filing_reminders(services: Services, today: date) -> list[str]:
    """Remind the digest chats of every city whose cutoff is HRBOT_FILING_REMIND_DAYS away, listing only what is
    still to file (待申报, 有变更) with the city's counts; a city whose records are all done gets nothing. Returns the
    cities reminded."""
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
    lines = (await collect_with_filings(services)).lines
    reminded = []
    for city, cutoff, days_left, key in due:
        in_city = [line for line in lines if city.files(line, today)]
        waiting = [line for line in in_city if line.filing_state in OPEN]
        if waiting:
            await _tell_chats(
                services,
                key,
                waiting,
                today,
                REMINDER_SENT,
                lambda view, city=city, cutoff=cutoff, days_left=days_left, in_city=in_city: reminder_card(
                    city.name,
                    datetime.combine(cutoff, datetime.min.time()),
                    days_left,
                    view,
                    queried_at=services.local(),
                    tally=filing_tally(in_city),
                ),
            )
            reminded.append(city.name)
        # Nothing left to file is nothing to say; either way this reminder is done.
        await services.store.claim([key])
    return reminded


async def send_overdue_notices(services: Services, today: date) -> list[str]:
    """The day after a city's cutoff, one card listing what was not filed in time; returns those cities."""
    calendar_: list[CityDeadline] = services.providers.get(CALENDAR_KEY) or []
    yesterday = today - timedelta(days=1)
    due = []
    for city in calendar_:
        key = f"overdue:{city.code}:{yesterday.isoformat()}"
        if city.cutoff(yesterday) == yesterday and not await services.store.claimed(key):
            due.append((city, key))
    if not due:
        return []
    lines = (await collect_with_filings(services)).lines
    told = []
    for city, key in due:
        late = [line for line in lines if city.files(line, yesterday) and line.filing_state in OPEN]
        if late:
            await _tell_chats(
                services,
                key,
                late,
                yesterday,
                OVERDUE_SENT,
                lambda view, city=city: overdue_card(
                    city.name,
                    datetime.combine(yesterday, datetime.min.time()),
                    view,
                    queried_at=services.local(),
                ),
            )
            told.append(city.name)
        await services.store.claim([key])
    return told


async def _tell_chats(
    services: Services,
    key: str,
    lines: list[RecordLine],
    month_of: date,
    kind: str,
    build: Callable[[DigestView], Card],
) -> None:
    keys = [line.key for line in lines]
    snapshot = await save_snapshot(services, keys, keys, lines)
    for chat_id in await digest_chats(services):
        try:
            audience = await chat_audience(services, chat_id)
            view = DigestView(
                lines=lines,
                current_month=f"{month_of:%Y-%m}",
                full=audience.full,
                snapshot=snapshot,
                controls=audience.full,
            )
            await services.feishu.send_card(chat_id, build(view), idempotency_key=f"{key}:{chat_id}")
            await audit.delivered(services.store, audit.SYSTEM, kind, chat_id, people_in(lines))
        except Exception:
            log.exception("could not send %s to chat %s", kind, chat_id)
