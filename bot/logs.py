"""Logging: one line per record, text by default or JSON lines; personal data masked on the way out."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from bot.masking import mask_text

# Fields an event log line may carry in JSON mode (set through `extra=`).
_EXTRA_FIELDS = ("event_id", "event_type", "command", "outcome", "latency_ms", "user")


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # With its offset: a line read beside Feishu's or a provider's logs must say which zone it means.
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter at INFO would drown the one-line-per-event log.
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access", "Lark", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
