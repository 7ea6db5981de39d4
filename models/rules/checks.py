"""Names, operators and the checks a rule's parts share (see :mod:`segflow.models.rules`)."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping
from numbers import Real
from typing import Any, Literal, TypeAlias, get_args

from pydantic_core import PydanticCustomError

PropertyValue: TypeAlias = str | float | int | bool
Scalar: TypeAlias = str | float | int | bool
Operator = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists", "contains"]

#: Every operator, in the order error messages list them.
OPERATORS: tuple[str, ...] = get_args(Operator)
#: Field namespaces, and which argument of :meth:`RuleSet.evaluate` each reads.
NAMESPACES: tuple[str, ...] = ("features", "scores", "properties")
#: Keys of the validation context that hold the known feature and score names.
FEATURE_NAMES_KEY = "feature_names"
SCORE_NAMES_KEY = "score_names"

_ORDER_OPERATORS = frozenset({"lt", "lte", "gt", "gte"})
_LIST_OPERATORS = frozenset({"in", "not_in"})
_ID_PATTERN = re.compile(r"[a-z0-9_-]+")
_ID_MAX_LENGTH = 64
_NUMERIC_NAMESPACES = {"features": "feature", "scores": "score"}
_CONTEXT_KEYS = {"features": FEATURE_NAMES_KEY, "scores": SCORE_NAMES_KEY}
_SLOTS = {name: slot for slot, name in enumerate(NAMESPACES)}

#: What a compiled condition takes: (features, scores, properties).
_Inputs: TypeAlias = tuple[Mapping[str, float], Mapping[str, float], Mapping[str, PropertyValue]]
_Test: TypeAlias = Callable[[_Inputs], bool]


def _custom(kind: str, message: str) -> PydanticCustomError:
    # No context: the message is used as is, braces in user input included.
    return PydanticCustomError(kind, message)


def _suggest(word: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(value: object) -> str:
    """A short description of an input value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "an empty list" if not value else "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _unknown_name(namespace: str, name: str, known: Collection[str] | None) -> str | None:
    """The error message for a feature or score name not in ``known``, else ``None``."""
    kind = _NUMERIC_NAMESPACES.get(namespace)
    if kind is None or known is None or name in known:
        return None
    return f"unknown {kind} {name!r}{_suggest(name, known)}"


def _normalize_value(op: str, value: Any, numeric_field: str | None) -> Any:
    """Check ``value`` against ``op``; ``numeric_field`` is set for features and scores."""
    if op == "exists":
        if value is None:
            return True
        if isinstance(value, bool):
            return value
        raise _custom(
            "value_type", f"operator 'exists' takes no value, or true/false, got {_describe(value)}"
        )
    if value is None:
        raise _custom("value_missing", f"operator {op!r} needs a value")
    if op == "contains":
        if numeric_field is not None:
            raise _custom(
                "operator_namespace",
                f"operator 'contains' applies to properties only ({numeric_field} is a number)",
            )
        if not isinstance(value, str):
            raise _custom(
                "value_type", f"operator 'contains' needs a string, got {_describe(value)}"
            )
        return value
    if op in _LIST_OPERATORS:
        if not isinstance(value, list | tuple):
            raise _custom("value_type", f"operator {op!r} needs a list, got {_describe(value)}")
        if not value:
            raise _custom("value_type", f"operator {op!r} needs a non-empty list")
        for index, item in enumerate(value):
            _check_scalar(op, item, numeric_field, f" at [{index}]")
        return tuple(value)
    if isinstance(value, list | tuple) and op in ("eq", "ne"):
        hint = "in" if op == "eq" else "not_in"
        raise _custom(
            "value_type", f"operator {op!r} needs a single value, got a list (use {hint!r})"
        )
    if op in _ORDER_OPERATORS:
        numeric_field = numeric_field or "the field"
    _check_scalar(op, value, numeric_field, "")
    return value


def _check_scalar(op: str, value: Any, numeric_field: str | None, where: str) -> None:
    if numeric_field is not None:
        if not _is_number(value):
            target = "" if numeric_field == "the field" else f" on {numeric_field}"
            raise _custom(
                "value_type",
                f"operator {op!r}{target} needs a number, got {_describe(value)}{where}",
            )
    elif not isinstance(value, str | bool) and not _is_number(value):
        raise _custom(
            "value_type",
            f"operator {op!r} needs a string, a number or a boolean, got {_describe(value)}{where}",
        )
    if isinstance(value, float) and math.isnan(value):
        raise _custom("value_type", f"operator {op!r} cannot compare with NaN{where}")
