"""Feature handlers. Adding a feature means adding its router to `ROUTERS`; nothing else in the core changes."""

from __future__ import annotations

from bot.router import Dispatcher
from handlers import (
    adjust_records,
    adjust_records_digest,
    adjust_records_filing,
    enterprise_social,
    four_factors,
    micro_ent,
    personal_social,
)
from handlers import help as help_

ROUTERS = [
    help_.router,
    adjust_records.router,
    adjust_records_digest.router,
    adjust_records_filing.router,
    micro_ent.router,
    enterprise_social.router,
    four_factors.router,
    personal_social.router,
]


def build_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.include(*ROUTERS)
    dispatcher.fallback = help_.show_help
    return dispatcher
