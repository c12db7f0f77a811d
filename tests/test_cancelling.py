"""`cancel_and_wait` ends a task even when a cancellation is lost on the way, as Python 3.11's `asyncio.wait_for`
loses one (CPython gh-86296): a Redis lock's holder waited for ever on its renewer so."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

import pytest

from bot.cancelling import cancel_and_wait


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="fixed in Python 3.12")
async def test_python_3_11_wait_for_loses_a_cancellation_that_lands_as_its_call_completes() -> None:
    """The premise: what redis-py's send and psycopg's waits go through."""
    inner = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(asyncio.wait_for(inner, 5))
    await asyncio.sleep(0)  # waiting is inside wait_for now
    inner.set_result("sent")
    waiting.cancel()
    assert await waiting == "sent"  # not CancelledError


async def test_a_task_that_lost_its_cancellation_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("bot.cancelling.RECANCEL_SECONDS", 0.05)
    rounds = 0

    async def renewer() -> None:
        nonlocal rounds
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if rounds == 0:  # lost, as inside wait_for: the loop goes on
                    rounds += 1
                    continue
                raise

    task = asyncio.create_task(renewer(), name="renewer")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="hrbot"):
        await asyncio.wait_for(cancel_and_wait(task), 5)
    assert task.cancelled() and rounds == 1
    assert "task renewer still running" in caplog.text


async def test_a_task_that_failed_is_waited_for_without_asyncio_complaining(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails(), name="poller")
    ended = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING):
        await cancel_and_wait(failed, ended)
        assert failed.done() and ended.done()
        del failed, ended
        gc.collect()
    assert "never retrieved" not in caplog.text
    assert "task poller had failed before it was stopped: RuntimeError('boom')" in caplog.text
