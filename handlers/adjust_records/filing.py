"""Filing-deadline reminders: N days before a city's monthly cutoff, the digest chats get that city's records to file.

The cutoffs are data the company edits (HRBOT_FILING_CALENDAR, a TOML file; fields in
handlers/adjust_records/filing-calendar.example.toml). The check runs hourly on the bot's clock, so the sandbox console's
fast-forward reaches a reminder; each (city, cutoff, days before) is sent once.
"""

from __future__ import annotations

import calendar
import logging
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import ConfigError
from bot.services import Services
from cards.adjust_records import DigestView, RecordLine, reminder_card
from handlers.adjust_records.audience import chat_audience, digest_chats
from handlers.adjust_records.collect import collect_records
from handlers.adjust_records.digest import local_now, save_snapshot
from handlers.adjust_records.router import router
from handlers.adjust_records.settings import settings_of

log = logging.getLogger("hrbot.adjust_records")

CALENDAR_KEY = "adjust-records-filing-calendar"


class CityDeadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^\d{6}$")
    name: str = Field(min_length=1, max_length=32)
    cutoff_day: int = Field(ge=1, le=31)
    removal_from: Literal["this_month", "last_month"]

    def cutoff(self, today: date) -> date:
        """This month's cutoff; a month without that day ends at its last day."""
        last = calendar.monthrange(today.year, today.month)[1]
        return today.replace(day=min(self.cutoff_day, last))

    def files(self, line: RecordLine, today: date) -> bool:
        """Whether `line` is filed with this city this month."""
        if line.city_code != self.code and line.city != self.name:
            return False
        month = f"{today:%Y-%m}"
        if line.record_type == "attrition" and self.removal_from == "last_month":
            month = f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"
        return line.month == month


def load_calendar(path: str) -> list[CityDeadline]:
    """The calendar, or ConfigError with one line naming the bad entry."""
    where = f"HRBOT_FILING_CALENDAR ({path})"
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"invalid setting {where}: cannot read the file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid setting {where}: not TOML ({exc})") from None
    entries = document.get("city")
    if set(document) - {"city"} or not isinstance(entries, list) or not entries:
        raise ConfigError(f"invalid setting {where}: expected one or more [[city]] entries and nothing else")
    cities: list[CityDeadline] = []
    for number, entry in enumerate(entries, start=1):
        label = f"entry {number}" + (
            f" ({entry.get('name')})" if isinstance(entry, dict) and entry.get("name") else ""
        )
        try:
            city = CityDeadline.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "entry"
            raise ConfigError(f"invalid setting {where}: {label}: {field}: {first['msg']}") from None
        if any(c.code == city.code for c in cities):
            raise ConfigError(f"invalid setting {where}: {label}: city code {city.code} appears twice")
        cities.append(city)
    return cities


@router.on_startup
async def read_calendar(services: Services) -> None:
    """Read at start, so a bad file stops start-up with one line naming the entry."""
    path = settings_of(services).hrbot_filing_calendar
    services.providers[CALENDAR_KEY] = load_calendar(path) if path else []


@router.every(timedelta(hours=1), id="filing_reminders")
async def run_filing_reminders(services: Services) -> None:
    """Without a calendar there is nothing to remind of."""
    await send_filing_reminders(services, local_now(services).date())


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
                        queried_at=local_now(services),
                    )
                    await services.feishu.send_card(chat_id, card, idempotency_key=f"{key}:{chat_id}")
                except Exception:
                    log.exception("could not send the %s filing reminder to chat %s", city.name, chat_id)
            reminded.append(city.name)
        # Nothing to file is nothing to say; either way this reminder is done.
        await services.store.claim([key])
    return reminded
