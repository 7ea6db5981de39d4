"""Exponential decay with a half-life: the arithmetic every decayed value shares.

After exactly one half-life a decayed value is exactly half:

>>> decay_factor(7 * 86_400.0, 7 * 86_400.0)
0.5
>>> decay_factor(0.0, 10.0)
1.0

Any finite time is safe: a weight that underflows is 0, and a weight brought
forward over a long span stops growing at ``2 ** MAX_GROWTH_HALF_LIVES`` (no
overflow, no division by zero anywhere it is used):

>>> decay_factor(1e15, 1.0)
0.0
>>> decay_factor(-1e15, 1.0) == 2.0**MAX_GROWTH_HALF_LIVES
True
"""

from __future__ import annotations

#: A value brought forward (negative ``elapsed``) grows at most by this many doublings:
#: a count that small has decayed away already, and the product stays finite.
MAX_GROWTH_HALF_LIVES = 512.0
#: Below this many halvings a weight is 0 for a double anyway (2 ** -1075 rounds to 0).
_MAX_DECAY_HALF_LIVES = 1100.0


def decay_factor(elapsed: float, half_life: float) -> float:
    """The weight left after ``elapsed`` (same unit as ``half_life``): ``2 ** (-elapsed / h)``.

    ``elapsed`` may be negative (a value brought forward from an older reference
    time is then worth more than one, up to ``2 ** MAX_GROWTH_HALF_LIVES``).
    """
    halvings = elapsed / half_life
    if halvings >= _MAX_DECAY_HALF_LIVES:
        return 0.0
    return float(2.0 ** -max(halvings, -MAX_GROWTH_HALF_LIVES))
