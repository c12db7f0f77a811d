"""Sealed values (bot/trust/sealing.py): readable by nobody, opened only where they were sealed for."""

from __future__ import annotations

import hashlib
import os

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.state.inbox import Sealer
from bot.trust.sealing import Sealing

TYPED = "小米科技有限责任公司 91110108551385082Q 雷军 11010119691202123X"


def test_a_sealed_text_shows_nothing_and_opens_only_for_its_place_and_purpose() -> None:
    cards = Sealing("hrbot-card.test", "app-secret", "encrypt-key")
    sealed = cards.seal_text({"typed": TYPED}, "ou_1\0oc_1\0om_1")
    assert sealed.isascii() and "1101" not in sealed and "雷军" not in sealed
    assert cards.open_text(sealed, "ou_1\0oc_1\0om_1") == {"typed": TYPED}
    for elsewhere in ("ou_2\0oc_1\0om_1", "ou_1\0oc_2\0om_1", "ou_1\0oc_1\0om_2", ""):
        with pytest.raises(ValueError):
            cards.open_text(sealed, elsewhere)
    with pytest.raises(ValueError):  # another purpose's key
        Sealing("hrbot-inbox", "app-secret", "encrypt-key").open_text(sealed, "ou_1\0oc_1\0om_1")
    with pytest.raises(ValueError):  # other secrets
        Sealing("hrbot-card.test", "other-secret", "encrypt-key").open_text(sealed, "ou_1\0oc_1\0om_1")
    with pytest.raises(ValueError):
        cards.open_text(sealed[:-4] + "AAAA", "ou_1\0oc_1\0om_1")
    with pytest.raises(ValueError):
        cards.open_text("不是密文", "ou_1\0oc_1\0om_1")


def test_the_inbox_still_opens_what_it_sealed_before_the_shared_helper() -> None:
    """Records an older version accepted (key derived as it was, no associated data) are resumed after upgrading."""
    key = hashlib.sha256(b"hrbot-inbox\0" + b"app-secret\0encrypt-key").digest()
    nonce = os.urandom(12)
    before = nonce + AESGCM(key).encrypt(nonce, orjson.dumps({"kind": "message", "data": TYPED}), None)
    assert Sealer("app-secret", "encrypt-key").open(before) == {"kind": "message", "data": TYPED}
