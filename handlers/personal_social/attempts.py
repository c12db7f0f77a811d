"""Login attempts for 个人社保: a failed Tcredit login costs nothing, so without a count it is a password oracle.

Every login submitted is counted at once against the account typed (whoever types it) and against the person
typing, before Tcredit hears of it; a login that goes through, or fails for a reason other than the credentials,
is taken off again. ACCOUNT_TRIES attempts on one account, or PERSON_TRIES by one person (any account), within
COOL_DOWN lock further logins until the oldest of them is COOL_DOWN old. An account is kept only as a keyed hash of
the city and what was typed into its text fields; the count lives in the cache and expires with the cool-down.
How many tries are left is told only on the person's own private card (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.lifecycle.services import Services

ACCOUNT_TRIES = 3
PERSON_TRIES = 5
COOL_DOWN = timedelta(minutes=30)
# Tcredit's task codes that mean the account and password did not log in (tcredit_errors: 50001, 50004).
CREDENTIALS_REFUSED = frozenset({"50001", "50004"})
_LOCK = "personal_social:attempts"


@dataclass(frozen=True)
class Verdict:
    """Whether a login may go ahead; when not, from when; `left` tries after this one."""

    allowed: bool
    until: datetime | None = None
    left: int = 0


def account_key(services: Services, area_code: str, typed: dict[str, str]) -> str:
    """The account as a keyed hash: the city plus the text fields (username, ID number), never the password."""
    identity = "\x1f".join([area_code, *(f"{k}={typed[k].strip().upper()}" for k in sorted(typed))])
    secret = (services.settings.feishu_app_secret or "hrbot-login-attempts").encode()
    return hmac.new(secret, identity.encode(), hashlib.sha256).hexdigest()[:32]


class Attempts:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = services.store

    async def begin(self, user: str, account: str) -> tuple[Verdict, str]:
        """Count one login attempt unless a limit is reached: (verdict, the attempt's id to settle it later)."""
        now = self.services.clock.now()
        async with self.store.exclusive(_LOCK):
            mine = await self._recent(_person(user), now)
            theirs = await self._recent(_account(account), now)
            until = _later(_until(mine, PERSON_TRIES), _until(theirs, ACCOUNT_TRIES))
            if until is not None:
                return Verdict(False, until=until), ""
            attempt = uuid.uuid4().hex
            entry = [now.isoformat(), attempt]
            await self._save(_person(user), [*mine, entry])
            await self._save(_account(account), [*theirs, entry])
        left = min(PERSON_TRIES - len(mine), ACCOUNT_TRIES - len(theirs)) - 1
        return Verdict(True, left=left), attempt

    async def settle(self, user: str, account: str, attempt: str, *, refused: bool) -> Verdict:
        """The login's outcome: a refused one stays counted; anything else is taken off. Returns what is left."""
        now = self.services.clock.now()
        async with self.store.exclusive(_LOCK):
            mine = await self._recent(_person(user), now)
            theirs = await self._recent(_account(account), now)
            if not refused:
                mine = [e for e in mine if e[1] != attempt]
                theirs = [e for e in theirs if e[1] != attempt]
                await self._save(_person(user), mine)
                await self._save(_account(account), theirs)
        until = _later(_until(mine, PERSON_TRIES), _until(theirs, ACCOUNT_TRIES))
        left = max(0, min(PERSON_TRIES - len(mine), ACCOUNT_TRIES - len(theirs)))
        return Verdict(until is None, until=until, left=left)

    async def _recent(self, key: str, now: datetime) -> list[list[str]]:
        entries = await self.store.cache_get(key) or []
        return [e for e in entries if datetime.fromisoformat(e[0]) > now - COOL_DOWN]

    async def _save(self, key: str, entries: list[list[str]]) -> None:
        await self.store.cache_set(key, entries, COOL_DOWN)


def _person(user: str) -> str:
    return f"login-attempts:person:{user}"


def _account(account: str) -> str:
    return f"login-attempts:account:{account}"


def _until(entries: list[list[str]], tries: int) -> datetime | None:
    """Locked until enough of the attempts are COOL_DOWN old to leave fewer than `tries`."""
    if len(entries) < tries:
        return None
    return datetime.fromisoformat(entries[len(entries) - tries][0]) + COOL_DOWN


def _later(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None
