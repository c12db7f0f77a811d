"""Errors a user may see. Raise one from a handler and the core shows it: a card for a message, a toast for a click."""

from __future__ import annotations

from bot.routing.protocol import Card


class UserFacingError(Exception):
    """`user_message` is short Simplified Chinese saying what failed and what to do next: never a key, an internal
    id or a stack trace. `title` heads the error card."""

    title = "处理失败"

    def __init__(self, user_message: str, *, title: str | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        if title is not None:
            self.title = title

    @property
    def outcome(self) -> str:
        """How the event log names this failure."""
        return "user-error"


class Refusal(UserFacingError):
    """Not an error in the bot: the user may not do this now (stale card, wrong role, already done).

    A click is answered with a toast of `kind`; a message with a card saying why.
    """

    title = "无法处理"

    def __init__(
        self, user_message: str, kind: str = "warning", *, title: str | None = None, card: Card | None = None
    ) -> None:
        super().__init__(user_message, title=title)
        self.kind = kind
        self.card = card  # what a message is answered with, when the feature has its own card for it

    @property
    def outcome(self) -> str:
        return "refused"
