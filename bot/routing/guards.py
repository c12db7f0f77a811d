"""Guards a command or card action is registered with: checked by the router before the handler runs."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from bot.routing.context import Context, Guard
from bot.routing.errors import Refusal
from bot.routing.protocol import Card
from bot.routing.roles import Role

if TYPE_CHECKING:
    from bot.lifecycle.services import Services


def members_only(
    members: Callable[[Services], Collection[str]], refusal: str, card: Callable[[], Card] | None = None
) -> Guard:
    """Only the open_ids `members` returns may go on; others are refused with `refusal` (or `card`, for a message)."""

    async def check(ctx: Context) -> None:
        if ctx.user not in members(ctx.services):
            raise Refusal(refusal, "error", card=card() if card else None)

    return check


def role_only(role: Role, refusal: str, card: Callable[[], Card] | None = None) -> Guard:
    """Only holders of `role` (configured open_ids, or members of the role's chat) may go on."""

    async def check(ctx: Context) -> None:
        if not await ctx.services.roles.has(role, ctx.user):
            raise Refusal(refusal, "error", card=card() if card else None)

    check.role = role  # type: ignore[attr-defined]  # read by `required_roles`: help lists only usable commands
    return check


def required_roles(guards: Collection[Guard]) -> list[Role]:
    """The roles `role_only` guards among `guards` ask for."""
    return [role for guard in guards if (role := getattr(guard, "role", None)) is not None]


def hr_only(refusal: str, card: Callable[[], Card] | None = None) -> Guard:
    """HR only (HRBOT_HR_OPEN_IDS, HRBOT_HR_CHAT_ID)."""
    return role_only(Role.HR, refusal, card)


def managers_only(refusal: str, card: Callable[[], Card] | None = None) -> Guard:
    """Managers only (HRBOT_MANAGERS, HRBOT_MANAGERS_CHAT_ID)."""
    return role_only(Role.MANAGERS, refusal, card)


def admins_only(refusal: str, card: Callable[[], Card] | None = None) -> Guard:
    """Admins only (HRBOT_ADMINS, or the managers when it is unset)."""
    return role_only(Role.ADMINS, refusal, card)


def private_only(notice: Callable[[], Card]) -> Guard:
    """Personal data stays out of groups: asked in a group, the group gets `notice` and the answer goes to the
    asker's private chat (every `ctx.reply` of the handler)."""

    async def check(ctx: Context) -> None:
        message = getattr(ctx, "message", None)
        if message is not None and not message.is_private:
            await ctx.reply(notice())
            ctx.move_private()

    return check
