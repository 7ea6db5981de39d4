"""Exponential decay with a half-life: the arithmetic every decayed value shares.

After exactly one half-life a decayed value is exactly half:

>>> decay_factor(7 * 86_400.0, 7 * 86_400.0)
0.5
>>> decay_factor(0.0, 10.0)
1.0
"""

from __future__ import annotations


def decay_factor(elapsed: float, half_life: float) -> float:
    """The weight left after ``elapsed`` (same unit as ``half_life``): ``2 ** (-elapsed / h)``.

    ``elapsed`` may be negative (a value brought forward from an older reference
    time is then worth more than one).
    """
    return float(2.0 ** (-elapsed / half_life))
