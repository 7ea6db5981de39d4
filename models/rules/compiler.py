"""Conditions compiled once into nested closures (no string is ever evaluated)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable
from numbers import Real
from typing import Any

from .checks import _LIST_OPERATORS, _SLOTS, Scalar, _Inputs, _is_number, _Test
from .conditions import AllOf, Comparison, Condition, Not

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _other_number(value: object) -> bool:
    """A number that is not exactly ``int`` or ``float`` (numpy scalars, fractions)."""
    return value is not None and not isinstance(value, bool) and isinstance(value, Real)


def _compile(condition: Condition) -> _Test:
    """A closure that evaluates ``condition`` on (features, scores, properties)."""
    if isinstance(condition, Comparison):
        return _compile_comparison(condition)
    if isinstance(condition, Not):
        child = _compile(condition.not_)
        return lambda inputs: not child(inputs)
    if isinstance(condition, AllOf):
        return _compile_all(tuple(_compile(c) for c in condition.all))
    return _compile_any(tuple(_compile(c) for c in condition.any))


def _compile_all(children: tuple[_Test, ...]) -> _Test:
    if len(children) == 1:
        return children[0]
    if len(children) == 2:
        first, second = children
        return lambda inputs: first(inputs) and second(inputs)

    def all_of(inputs: _Inputs) -> bool:
        for child in children:  # noqa: SIM110 - faster than all() over a generator
            if not child(inputs):
                return False
        return True

    return all_of


def _compile_any(children: tuple[_Test, ...]) -> _Test:
    if len(children) == 1:
        return children[0]
    if len(children) == 2:
        first, second = children
        return lambda inputs: first(inputs) or second(inputs)

    def any_of(inputs: _Inputs) -> bool:
        for child in children:  # noqa: SIM110 - faster than any() over a generator
            if child(inputs):
                return True
        return False

    return any_of


def _compile_comparison(leaf: Comparison) -> _Test:
    slot = _SLOTS[leaf.namespace]
    name = leaf.name
    op = leaf.op
    value = leaf.value

    if op == "exists":
        if value:
            return lambda inputs: inputs[slot].get(name) is not None
        return lambda inputs: inputs[slot].get(name) is None

    if op == "contains":
        needle = str(value)

        def contains(inputs: _Inputs) -> bool:
            found = inputs[slot].get(name)
            return isinstance(found, str) and needle in found

        return contains

    if op in _LIST_OPERATORS:
        assert isinstance(value, tuple)
        return _compile_membership(slot, name, value, wanted=op == "in")

    compare = _COMPARE[op]
    if isinstance(value, str):

        def compare_string(inputs: _Inputs) -> bool:
            found = inputs[slot].get(name)
            return isinstance(found, str) and compare(found, value)

        return compare_string

    if isinstance(value, bool):

        def compare_boolean(inputs: _Inputs) -> bool:
            found = inputs[slot].get(name)
            return isinstance(found, bool) and compare(found, value)

        return compare_boolean

    def compare_number(inputs: _Inputs) -> bool:
        found = inputs[slot].get(name)
        if type(found) is float or type(found) is int or _other_number(found):
            return compare(found, value)
        return False

    return compare_number


def _compile_membership(slot: int, name: str, values: tuple[Scalar, ...], *, wanted: bool) -> _Test:
    """``in`` (``wanted``) or ``not_in``: one lookup table per kind of value."""
    strings = frozenset(v for v in values if isinstance(v, str)) or None
    booleans = frozenset(v for v in values if isinstance(v, bool)) or None
    numbers = frozenset(v for v in values if _is_number(v)) or None

    def membership(inputs: _Inputs) -> bool:
        found = inputs[slot].get(name)
        table: frozenset[Hashable] | None
        if isinstance(found, str):
            table = strings
        elif type(found) is float or type(found) is int or _other_number(found):
            table = numbers
        elif isinstance(found, bool):
            table = booleans
        else:
            return False
        return table is not None and (found in table) is wanted

    return membership
