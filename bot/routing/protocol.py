"""The card wire protocol shared by the core, the handlers and the card builders.

A card is card JSON 2.0 as a dict; a button's callback value carries the action id under `ACTION_KEY`; a card
action is answered with an `ActionResponse` (Feishu's callback answer: a toast and/or a replacement card).
"""

from __future__ import annotations

from typing import Any

Card = dict[str, Any]
Element = dict[str, Any]

ACTION_KEY = "action"


def action_value(action: str, **payload: Any) -> dict[str, Any]:
    """A button's callback value: the action id and what the handler needs to act."""
    return {ACTION_KEY: action, **payload}


class ActionResponse(dict):
    """The synchronous answer to a card action: `{}` or a toast and/or a replacement card."""

    @classmethod
    def toast(cls, content: str, kind: str = "info", card: Card | None = None) -> ActionResponse:
        response = cls(toast={"type": kind, "content": content})
        if card is not None:
            response["card"] = {"type": "raw", "data": card}
        return response

    @classmethod
    def replace(cls, card: Card) -> ActionResponse:
        return cls(card={"type": "raw", "data": card})

    @property
    def card(self) -> Card | None:
        return self.get("card", {}).get("data")
