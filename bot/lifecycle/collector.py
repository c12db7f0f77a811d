"""The cyclic garbage collector's pace for a serving process.

An event allocates a few thousand container objects (parsed JSON, aiohttp's request and response, tasks and
futures), nearly all freed by reference counting as soon as the event is answered. At Python's default threshold
(700 allocations more than deallocations) the youngest generation was collected several times per answered
message, each pass traversing objects that were about to be freed anyway: ~4 % of the CPU of an answered 帮助 in
py-spy (bench/ingress.py). A larger young generation lets those die first; the collections that remain find the
same cycles, a little later, and hold at most a few megabytes more.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def young_collection_threshold() -> None:
    """Collect the youngest generation after YOUNG_THRESHOLD net allocations (the older ones keep their pace)."""
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(max(_young, YOUNG_THRESHOLD), middle, old)
