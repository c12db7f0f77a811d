"""`mask_text` skips the patterns when a line cannot hold an ID or phone number: it must never skip one they mask."""

from __future__ import annotations

import random

from bot.trust import masking


def _patterns_alone(text: str) -> str:
    text = masking._ID_NUMBER.sub(lambda m: masking._keep_ends(m.group(), 18, 3, 4), text)
    return masking._MAINLAND_PHONE.sub(lambda m: masking._keep_ends(m.group(), 11, 3, 4), text)


def test_the_quick_check_changes_no_line() -> None:
    # ASCII, full-width, Arabic-Indic and Devanagari digits (all `\d`), the gaps people type, and text around them.
    alphabet = "0123456789" * 3 + "１２３٣४" + " -+xX帮\n"
    rnd = random.Random(29)
    masked = 0
    for _ in range(20_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        expected = _patterns_alone(text)
        assert masking.mask_text(text) == expected, text
        masked += expected != text
    assert masked > 500  # the sample held numbers to mask, not only lines the check lets through


def test_full_width_and_gapped_numbers_are_still_masked() -> None:
    assert masking.mask_text("证件 １１０１０１１９９００３０７１２３４") == "证件 １１０***********１２３４"
    assert masking.mask_text("电话 138-0013-8000") == "电话 138****8000"
    assert masking.mask_text("event 0123456789abcdef type=im.message.receive_v1") == (
        "event 0123456789abcdef type=im.message.receive_v1"
    )
