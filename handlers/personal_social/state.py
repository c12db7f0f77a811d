"""The 个人社保 dialog, on the core's versioned dialog state: one per user, surviving restarts.

Only what the next step needs is kept: the city, the login method, the Tcredit task id, the last task code seen and
the card to update. Passwords, captcha answers and form values are never written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.state.dialogs import Dialog, Dialogs
from bot.state.store import Store

FEATURE = "personal_social"

# Steps a flow passes through; the last four are final.
CITY, FORM, RUNNING, SMS, IMAGE = "city", "form", "running", "sms", "image"
DONE, FAILED, EXPIRED, CANCELLED = "done", "failed", "expired", "cancelled"
ACTIVE = (CITY, FORM, RUNNING, SMS, IMAGE)
POLLED = (RUNNING, SMS, IMAGE)


@dataclass(frozen=True)
class Flow:
    dialog: Dialog

    @property
    def user(self) -> str:
        return self.dialog.user

    @property
    def chat_id(self) -> str:
        return self.dialog.chat_id

    @property
    def message_id(self) -> str | None:
        return self.dialog.message_id

    @property
    def state(self) -> str:
        return self.dialog.step

    @property
    def version(self) -> int:
        return self.dialog.version

    @property
    def expires_at(self) -> datetime:
        return self.dialog.expires_at

    @property
    def area_code(self) -> str | None:
        return self.dialog.data.get("area_code")

    @property
    def area_name(self) -> str | None:
        return self.dialog.data.get("area_name")

    @property
    def login_type(self) -> str | None:
        return self.dialog.data.get("login_type")

    @property
    def tid(self) -> str | None:
        return self.dialog.data.get("tid")

    @property
    def last_code(self) -> str | None:
        return self.dialog.data.get("last_code")

    @property
    def updated_at(self) -> datetime | None:
        return self.dialog.updated_at

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def _flow(dialog: Dialog | None) -> Flow | None:
    return Flow(dialog) if dialog is not None else None


class Flows:
    def __init__(self, store: Store) -> None:
        self.dialogs = Dialogs(store, FEATURE)

    async def get(self, user: str) -> Flow | None:
        return _flow(await self.dialogs.get(user))

    async def start(self, user: str, chat_id: str, now: datetime, expires_at: datetime) -> Flow:
        """A fresh flow at the city step, replacing whatever the user had."""
        return Flow(await self.dialogs.start(user, chat_id, CITY, now, expires_at))

    async def advance(
        self, user: str, expected_version: int, now: datetime, *, state: str | None = None, **values: Any
    ) -> Flow | None:
        """Move on only from the version the caller saw: a double click or a stale card gets None."""
        expires_at = values.pop("expires_at", None)
        return _flow(
            await self.dialogs.advance(
                user, expected_version, now, step=state, expires_at=expires_at, **values
            )
        )

    async def touch(self, user: str, now: datetime) -> None:
        await self.dialogs.touch(user, now)

    async def set_message(self, user: str, message_id: str) -> None:
        await self.dialogs.set_message(user, message_id)

    async def forget(self, user: str) -> bool:
        return await self.dialogs.forget(user)

    async def polled(self, limit: int) -> list[Flow]:
        """Flows with a Tcredit task in progress, least recently polled first."""
        return [Flow(d) for d in await self.dialogs.in_steps(POLLED, limit)]

    async def any_active(self) -> bool:
        """Whether any flow is in progress: the poll job exists only then."""
        return bool(await self.dialogs.in_steps(ACTIVE, 1))

    async def lapsed(self, now: datetime, limit: int) -> list[Flow]:
        return [Flow(d) for d in await self.dialogs.lapsed(ACTIVE, now, limit)]
