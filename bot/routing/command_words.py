"""Finding the command word at the start of a message, the way people type it, and the nearest word to a typo.

Chinese users write `企业社保小米科技有限责任公司` or `企业社保：小米…` as often as `企业社保 小米…`: the longest
command word the message starts with wins, followed by anything, a space or a colon. A word ending in a Latin letter
or digit (`help`) needs a boundary after it, so `helpful` is not `help` + `ful`.
"""

from __future__ import annotations

from collections.abc import Iterable

COLONS = ":："


def _needs_boundary(word: str) -> bool:
    return word[-1].isascii() and word[-1].isalnum()


def match_word(text: str, words: Iterable[str]) -> tuple[str, str] | None:
    """(the command word as registered, its arguments) for the longest word `text` starts with (case-insensitive),
    or None."""
    text = text.strip()
    folded = text.casefold()
    for word in sorted(words, key=len, reverse=True):
        key = word.casefold()
        if not folded.startswith(key):
            continue
        rest = text[len(key) :]
        if rest and _needs_boundary(key) and not (rest[0].isspace() or rest[0] in COLONS):
            continue
        rest = rest.strip()
        if rest[:1] and rest[0] in COLONS:
            rest = rest[1:].strip()
        return word, rest
    return None


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def nearest_word(text: str, words: Iterable[str]) -> str | None:
    """The command word `text` most likely misspells at its start (`企业社宝小米` → 企业社保): one character off for
    words of up to four characters, two for longer ones; None when nothing is that close."""
    text = text.strip().casefold()
    best: tuple[int, int, str] | None = None
    for word in words:
        key = word.casefold()
        if len(key) < 3:  # two-character words (用量, 小微) are one typo away from everyday words
            continue
        allowed = 1 if len(key) <= 4 else 2
        for length in range(max(1, len(key) - allowed), len(key) + allowed + 1):
            head = text[:length]
            if len(head) < length:
                break
            rest = text[length:]
            if rest and _needs_boundary(key) and rest[0].isascii() and rest[0].isalnum():
                continue
            distance = _distance(head, key)
            if 0 < distance <= allowed and (best is None or (distance, -len(key)) < best[:2]):
                best = (distance, -len(key), word)
    return best[2] if best else None
