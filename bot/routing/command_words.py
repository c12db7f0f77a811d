"""Finding the command word at the start of a message, the way people type it, and the nearest word to a typo.

Chinese users write `企业社保 小米…`, `企业社保：小米…` and `企业社保小米科技有限责任公司`. A space (full-width too) or a
colon after the word always separates it from its arguments. Written joined, the word is that command only when what
follows looks like the command's argument (a company name after 企业社保), as the command declares; otherwise
`企业社保怎么查询比较好` would be a billed query about 「怎么查询比较好」. A word of two characters (小微) is never joined:
too many everyday words start with it. A command that takes no argument is that command only with nothing after it
but closing punctuation, so `撤回同意了会怎么样？` asks about it rather than doing it. The longest command word the
message starts with is the one meant: when its rule refuses the message, no shorter word is tried in its place.
A word ending in a Latin letter or digit (`help`) needs a boundary after it, so `helpful` is not `help` + `ful`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

COLONS = ":："
# What may follow a command that takes no argument: `撤回同意。` is still the command.
CLOSING = "。.！!"
# Words this long or longer may be written joined to their argument.
MIN_JOINED_CHARS = 3

# (the command word, its arguments, whether they were joined to the word) → whether the message is that command.
Accepts = Callable[[str, str, bool], bool]


def _needs_boundary(word: str) -> bool:
    return word[-1].isascii() and word[-1].isalnum()


def accepts(
    word: str, args: str, joined: bool, *, takes_args: bool, joined_args: Callable[[str], bool] | None
) -> bool:
    """The rule above for one command: `takes_args` False for a command without arguments; `joined_args` says
    whether text written straight after the word is the command's argument (None: never)."""
    if not takes_args:
        return not args.strip().strip(CLOSING).strip()
    if not joined:
        return True
    return len(word) >= MIN_JOINED_CHARS and joined_args is not None and joined_args(args)


def match_word(text: str, words: Iterable[str], accepts: Accepts | None = None) -> tuple[str, str] | None:
    """(the command word as registered, its arguments) for the longest word `text` starts with (case-insensitive)
    if `accepts` takes it, or None."""
    text = text.strip()
    folded = text.casefold()
    for word in sorted(words, key=len, reverse=True):
        key = word.casefold()
        if not folded.startswith(key):
            continue
        rest = text[len(key) :]
        joined = bool(rest) and not (rest[0].isspace() or rest[0] in COLONS)
        if joined and _needs_boundary(key):
            continue
        rest = rest.strip()
        if rest[:1] and rest[0] in COLONS:
            rest = rest[1:].strip()
        if accepts is not None and not accepts(word, rest, joined):
            return None
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


def nearest_word(text: str, words: Iterable[str]) -> tuple[str, str] | None:
    """(the command word `text` most likely means at its start, the start of `text` taken for it), or None when
    nothing is that close: `企业社宝小米` → (企业社保, 企业社宝). A word the text starts with as it is (a command that
    refused what followed it) is nearest; else one character off for words of three or four characters, two for
    longer ones."""
    text = text.strip()
    folded = text.casefold()
    best: tuple[int, int, int, str, str] | None = None
    for word in words:
        key = word.casefold()
        if len(key) < 2:
            continue
        # Two-character words (用量, 小微) are one typo away from everyday words: only as they are.
        allowed = 0 if len(key) < 3 else 1 if len(key) <= 4 else 2
        for length in range(max(1, len(key) - allowed), len(key) + allowed + 1):
            head = folded[:length]
            if len(head) < length:
                break
            rest = folded[length:]
            if rest and _needs_boundary(key) and rest[0].isascii() and rest[0].isalnum():
                continue
            distance = _distance(head, key)
            if distance > allowed:
                continue
            rank = (distance, abs(length - len(key)), -len(key))
            if best is None or rank < best[:3]:
                best = (*rank, word, text[:length])
    return (best[3], best[4]) if best else None
