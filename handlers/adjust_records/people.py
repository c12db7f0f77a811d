"""Whose 增减员 records a message asks for: @mentions, emails, mobile numbers, or a name that fits one person.

A private chat may not offer @ for people outside it, so HR can also name a colleague by email or mobile (the contact
API's batch id lookup) or by a name matching exactly one person. Anything that names nobody is reported by what was
typed, never replaced by the asker's own records.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.lifecycle.services import Services
from bot.routing.context import Mention
from handlers.adjust_records.contacts import members, open_ids_by_contact
from handlers.adjust_records.settings import settings_of

MAX_PEOPLE = 20
MAX_TOKEN = 64
NAME_INDEX_SECONDS = 600.0
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE = re.compile(r"^\+?\d{7,15}$")
_SEPARATORS = re.compile(r"[\s,，、;；]+")


@dataclass
class Resolution:
    open_ids: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    ambiguous: list[tuple[str, int]] = field(default_factory=list)
    too_many: bool = False

    @property
    def asked(self) -> bool:
        return bool(self.open_ids or self.missing or self.ambiguous or self.too_many)


class NameIndex:
    """name → open_ids over the digest's departments, rebuilt at most every 10 minutes, kept only in memory."""

    def __init__(self) -> None:
        self._names: dict[str, list[str]] = {}
        self._built = -NAME_INDEX_SECONDS

    async def find(self, services: Services, name: str) -> list[str]:
        if time.monotonic() - self._built >= NAME_INDEX_SECONDS:
            names: dict[str, list[str]] = {}
            async for user in members(services.feishu, settings_of(services).digest_department_ids):
                names.setdefault(str(user.get("name") or "").strip(), []).append(str(user["open_id"]))
            self._names, self._built = names, time.monotonic()
        return self._names.get(name, [])


def _name_index(services: Services) -> NameIndex:
    return services.providers.setdefault("adjust-records-name-index", NameIndex())


def split_args(args: str) -> list[str]:
    return [token for token in _SEPARATORS.split(args) if token]


def names_contacts(args: str) -> bool:
    """Only emails and mobile numbers: what may follow 增减员 without a space (`增减员13800138000`). A name may not,
    since `增减员怎么查` would be a search for a colleague called 怎么查."""
    tokens = split_args(args)
    return bool(tokens) and all(
        _EMAIL.match(bare) or _MOBILE.match(re.sub(r"[-\s]", "", bare))
        for bare in (token[:MAX_TOKEN].removeprefix("@") for token in tokens)
    )


async def resolve_people(services: Services, mentions: Sequence[Mention], args: str) -> Resolution:
    result = Resolution()
    tokens = split_args(args)
    if len(tokens) + len(mentions) > MAX_PEOPLE:
        result.too_many = True
        return result
    for mention in mentions:
        if mention.open_id:
            result.open_ids.append(mention.open_id)
        else:  # @所有人 and the like name no one
            result.missing.append(mention.name or mention.key)
    emails, mobiles, names = [], [], []
    for token in tokens:
        text = token[:MAX_TOKEN]
        bare = text.removeprefix("@")
        digits = re.sub(r"[-\s]", "", bare)
        if _EMAIL.match(bare):
            emails.append(bare)
        elif _MOBILE.match(digits):
            mobiles.append(digits)
        else:
            names.append(bare)
    if emails or mobiles:
        found = await open_ids_by_contact(services.feishu, emails=emails, mobiles=mobiles)
        for key in [*emails, *mobiles]:
            if key in found:
                result.open_ids.append(found[key])
            else:
                result.missing.append(key)
    for name in names:
        matches = await _name_index(services).find(services, name)
        if len(matches) == 1:
            result.open_ids.append(matches[0])
        elif matches:
            result.ambiguous.append((name, len(matches)))
        else:
            result.missing.append(name)
    result.open_ids = list(dict.fromkeys(result.open_ids))
    return result
