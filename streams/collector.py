"""The cyclic garbage collector and a worker's long-lived state.

A worker that loads a million profiles keeps, for as long as it holds their
partitions, a sweep schedule and sizes with an entry per customer: a heap list of a
million tuples and a set of a million ids. Python's collector takes those containers
into every full collection and visits each item (measured in ``bench.scale`` at 1M
profiles: 120-200 ms per full collection, one every 0.2-4 s during a drain), though
nothing in them is ever cyclic garbage. :func:`freeze_long_lived`, called when such
state has been built, collects once and then moves everything the collector tracks
to its permanent generation, which later collections do not traverse.

Objects frozen are still freed by reference counting when dropped (the schedule is
replaced after every rebalance); only a reference cycle among them would wait for the
next call, which first unfreezes, so nothing stays frozen past the next load.

>>> import gc
>>> held = [[i] for i in range(1000)]
>>> freeze_long_lived()
>>> gc.get_freeze_count() >= 1000 and not any(o is held for o in gc.get_objects(2))
True
>>> gc.unfreeze()
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect all generations, then move every tracked object to the permanent
    generation (after state that lives until the next rebalance has been built)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
