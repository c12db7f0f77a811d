"""Stopping a task for certain on Python 3.11.

Python 3.11's `asyncio.wait_for` returns the inner call's result when a cancellation lands just as that call completes,
and the cancellation is lost (CPython gh-86296, fixed in 3.12 where `wait_for` is built on `asyncio.timeout`).
redis-py sends each command through it (its `socket_timeout`, 5 s by default), and psycopg waits through it: a task
cancelled there goes on as if it had never been, and whoever awaits its end waits for ever. A Redis lock's renewer did:
its holder, a user's message, never finished (tests/test_cancelling.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("hrbot")

# A task still running this long after a cancellation is cancelled again.
RECANCEL_SECONDS = 1.0


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancel the tasks and return once each has ended, cancelling again any that lost its cancellation."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _ended, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        for task in pending:
            log.warning(
                "task %s still running %.0f s after it was cancelled: cancelling again",
                task.get_name(),
                RECANCEL_SECONDS,
            )
            task.cancel()
    for task in tasks:
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            log.warning("task %s had failed before it was stopped: %r", task.get_name(), failure)
