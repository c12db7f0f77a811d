"""A card kept to be sent often travels as the same bytes as the card it was made from."""

from __future__ import annotations

import orjson

from cards.common import card_json, sent_often
from cards.help import CommandLine, help_card


def test_a_kept_card_is_the_same_card_on_the_wire() -> None:
    card = help_card([CommandLine("帮助", ("help",), "查看所有命令和示例", "帮助")])
    kept = sent_often(card)
    assert kept == card
    assert card_json(kept) == card_json(card) == orjson.dumps(card).decode()
    assert orjson.dumps({"card": kept}) == orjson.dumps({"card": card})  # inside an answer, as a plain dict
