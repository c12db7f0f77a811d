"""A serving bot collects its youngest generation at the larger threshold (bot/lifecycle/collector.py), and cyclic
garbage made while serving is still collected."""

from __future__ import annotations

import gc
import weakref

from bot.lifecycle.collector import YOUNG_THRESHOLD
from tests.conftest import RunningBot


class _Node:
    def __init__(self) -> None:
        self.me = self


async def test_a_started_bot_uses_the_larger_young_threshold_and_still_frees_cycles(bot: RunningBot) -> None:
    assert gc.get_threshold()[0] >= YOUNG_THRESHOLD
    cycle = _Node()
    gone = weakref.ref(cycle)
    del cycle
    assert gone() is not None  # a cycle outlives reference counting...
    gc.collect(0)
    assert gone() is None  # ...and the collector still takes it
