"""Argument types shared by the ``segflow`` commands: each rejects bad input with one line.

>>> positive_float("2.5"), port("8080")
(2.5, 8080)
>>> positive_int("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be >= 1: '0'
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", int, float)


def _checked(
    text: str, convert: Callable[[str], T], kind: str, ok: Callable[[T], bool], rule: str
) -> T:
    """``convert(text)`` if it converts and is ``ok``; else one line: ``kind`` or ``rule``."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{kind}: {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{rule}: {text!r}")
    return value


def positive_float(text: str) -> float:
    return _checked(text, float, "not a number", lambda v: v > 0, "must be > 0")


def non_negative_float(text: str) -> float:
    return _checked(
        text,
        float,
        "not a number",
        lambda v: v >= 0 and math.isfinite(v),
        "must be a finite number >= 0",
    )


def positive_int(text: str) -> int:
    return _checked(text, int, "not an integer", lambda v: v >= 1, "must be >= 1")


def port(text: str) -> int:
    return _checked(text, int, "not a port number", lambda v: 0 <= v <= 65535, "not a port number")
