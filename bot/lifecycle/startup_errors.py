"""Why start-up failed, in one line naming the setting and the cause: what an operator reads instead of a traceback."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from bot.config import ConfigError, Settings
from bot.feishu.client import CredentialsRefused

DATABASE_BACKENDS = ("sqlite", "postgresql")
REDIS_SCHEMES = ("redis", "rediss", "unix")
DATABASE_HINT = "use sqlite:///path/to/hrbot.db or postgresql+psycopg://user:password@host:5432/dbname"

# Exit statuses: a setting that will stay wrong until someone edits it (systemd does not restart on 2), and a service
# that may come back (restarting is worth it).
EXIT_BAD_SETTING = 2
EXIT_UNAVAILABLE = 1


@dataclass(frozen=True)
class StartupFailure:
    line: str
    exit_status: int


def check_urls(settings: Settings) -> None:
    """Refuse database and Redis URLs no driver here can open, before anything starts."""
    try:
        backend = make_url(settings.hrbot_database_url).get_backend_name()
    except ArgumentError:
        raise ConfigError(
            f"invalid setting HRBOT_DATABASE_URL: not a database URL; {DATABASE_HINT}"
        ) from None
    if backend not in DATABASE_BACKENDS:
        raise ConfigError(
            f"invalid setting HRBOT_DATABASE_URL: unknown database scheme {backend!r}; {DATABASE_HINT}"
        )
    redis_url = settings.hrbot_redis_url
    if redis_url and urlsplit(redis_url).scheme not in REDIS_SCHEMES:
        raise ConfigError(
            "invalid setting HRBOT_REDIS_URL: expected redis://host:6379/0 (or rediss://, unix://)"
        )


def explain(exc: BaseException, settings: Settings) -> StartupFailure | None:
    """The one line for a failure we know how to name; None for anything else (a bug: let it show)."""
    if isinstance(exc, ConfigError):
        return StartupFailure(str(exc), EXIT_BAD_SETTING)
    if isinstance(exc, CredentialsRefused):
        return StartupFailure(
            f"FEISHU_APP_ID / FEISHU_APP_SECRET: Feishu refused the app credentials (code {exc.code}: {exc.msg}); "
            "copy both from the app's 凭证与基础信息 page",
            EXIT_BAD_SETTING,
        )
    if isinstance(exc, DBAPIError):
        return _database(exc, settings.hrbot_database_url)
    if isinstance(exc, RedisError):
        # redis-py words a refused connection as "Error 111 connecting to ..."; the OS error under it says it plainly.
        under = exc.__context__
        cause = os.strerror(under.errno) if isinstance(under, OSError) and under.errno else _first_line(exc)
        where = _redis_where(settings.hrbot_redis_url)
        return StartupFailure(f"HRBOT_REDIS_URL: cannot use Redis at {where}: {cause}", EXIT_UNAVAILABLE)
    return None


def _database(exc: DBAPIError, url: str) -> StartupFailure:
    parsed = make_url(url)
    cause = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
    if parsed.get_backend_name() == "sqlite":
        return StartupFailure(
            f"HRBOT_DATABASE_URL: cannot open the SQLite database {parsed.database}: {cause} "
            "(does the directory exist and may this user write to it?)",
            EXIT_BAD_SETTING,
        )
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    # psycopg says 'connection failed: connection to server at "h", port p failed: <reason>': keep the reason.
    reason = cause.rsplit("failed: ", 1)[-1]
    return StartupFailure(
        f"HRBOT_DATABASE_URL: cannot connect to PostgreSQL at {where}: {reason}", EXIT_UNAVAILABLE
    )


def _redis_where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}" if parts.scheme != "unix" else parts.path


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0].strip() if lines else ""
