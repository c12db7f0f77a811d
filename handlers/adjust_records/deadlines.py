"""Each city's monthly 增减员 filing cutoff, as the company writes it down (HRBOT_FILING_CALENDAR, a TOML file)."""

from __future__ import annotations

import calendar
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import ConfigError

if TYPE_CHECKING:
    from cards.adjust_records import RecordLine


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
