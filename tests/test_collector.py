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
    # ...and the collector, running by itself, still takes it: enough allocations for ten young collections and so
    # one of the middle generation (where the cycle is if a young collection came before the `del`).
    kept = [[] for _ in range(30 * YOUNG_THRESHOLD)]
    assert gone() is None
    assert len(kept) == 30 * YOUNG_THRESHOLD
