"""Logging: one line per record, text by default or JSON lines; personal data masked on the way out."""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from datetime import UTC, datetime

from bot.trust.masking import mask_text

# Fields an event log line may carry in JSON mode (set through `extra=`).
_EXTRA_FIELDS = ("event_id", "event_type", "command", "outcome", "latency_ms", "user")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85]")


def clean(text: str, *, keep_newlines: bool = False) -> str:
    """Text safe to log: no control or format characters (NUL, ESC, bidi overrides, zero-width marks).

    A message is one line (a typed line break cannot forge a second record); a traceback keeps its line breaks.
    """
    if text.isprintable():
        # The usual line, checked in C: every character removed below (line breaks too) is non-printable.
        return text
    if not keep_newlines:
        text = _LINE_BREAKS.sub(" ", text)
    return "".join(
        c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )


class MaskingFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        return clean(super().formatMessage(record))

    def formatException(self, ei: object) -> str:
        return clean(super().formatException(ei), keep_newlines=True)  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return clean(super().formatStack(stack_info), keep_newlines=True)

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))

    # (second, its date and time, the zone's offset), replaced whole: a thread reading it sees one second's parts.
    _stamp: tuple[float, str, str] = (-1.0, "", "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # With its offset: a line read beside Feishu's or a provider's logs must say which zone it means.
        # The date, time and offset are made once a second (~5 µs a line otherwise); the milliseconds are cut from
        # the microseconds rounded as `datetime.fromtimestamp` rounds them.
        fraction, second = math.modf(record.created)
        micro = round(fraction * 1e6)
        if micro >= 1_000_000:
            second, micro = second + 1, micro - 1_000_000
        stamp = self._stamp
        if stamp[0] != second:
            text = datetime.fromtimestamp(second).astimezone().isoformat(timespec="seconds")
            stamp = self._stamp = (second, text[:19], text[19:])
        return f"{stamp[1]}.{micro // 1000:03d}{stamp[2]}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(clean(record.getMessage())),
        }
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                value = getattr(record, name)
                entry[name] = clean(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = mask_text(clean(self.formatException(record.exc_info), keep_newlines=True))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    # Neither format shows where a line was logged from; finding it (a walk up the stack) was a third of the per-event
    # line's CPU. The logging HOWTO's "Optimization" section names this switch.
    logging._srcfile = None
    # Nor the thread, process or multiprocessing names, which every record otherwise looks up (same section).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter at INFO would drown the one-line-per-event log.
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access", "Lark", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
