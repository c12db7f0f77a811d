"""The event a piece of work answers, and the place of each outward call in it: keys that make a re-run harmless.

A handler that is run again (its replica died, or this process restarted after a kill) makes the same calls in the
same order. Each send, reply and billed call takes the next number of its kind within the event, so the re-run's
calls carry the same keys: Feishu lands a message with a uuid it has seen within the hour once, and the ledger finds
the billed call already made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class EventScope:
    event_key: str
    # True when this run takes over an event another run (a dead replica, a killed process) accepted.
    resumed: bool = False
    _places: dict[str, int] = field(default_factory=dict)

    def next_key(self, kind: str) -> str:
        """`<event>:<kind>:<n>`: the n-th call of this kind the handler makes for the event."""
        place = self._places.get(kind, 0)
        self._places[kind] = place + 1
        return f"{self.event_key}:{kind}:{place}"


_current: ContextVar[EventScope | None] = ContextVar("hrbot_event_scope", default=None)


def current() -> EventScope | None:
    return _current.get()


def next_key(kind: str) -> str | None:
    """The key of the next `kind` call of the event being handled; None outside an event (scheduled work)."""
    scope = _current.get()
    return scope.next_key(kind) if scope is not None else None


@contextlib.contextmanager
def handling(event_key: str, *, resumed: bool = False) -> Iterator[EventScope]:
    """Calls made inside (and in tasks started inside) are numbered within `event_key`."""
    scope = EventScope(event_key, resumed)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)
