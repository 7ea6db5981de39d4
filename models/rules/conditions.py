"""Conditions: comparisons and the ``all`` / ``any`` / ``not`` trees above them."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Self, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .checks import (
    _CONTEXT_KEYS,
    _NUMERIC_NAMESPACES,
    NAMESPACES,
    OPERATORS,
    Operator,
    Scalar,
    _custom,
    _describe,
    _normalize_value,
    _suggest,
    _unknown_name,
)


class _Strict(BaseModel):
    """Frozen, and unknown keys are errors (with a suggestion when one is close).

    Compiled closures live in cached properties (so they take no part in
    equality); pickling drops them and copying with ``update`` recompiles them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def _drop_compiled(self) -> None:
        for key in [key for key in self.__dict__ if key not in type(self).model_fields]:
            del self.__dict__[key]

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        fields = type(self).model_fields
        state["__dict__"] = {k: v for k, v in state["__dict__"].items() if k in fields}
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self.model_post_init(None)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (see pydantic); with ``update``, the copy's condition is compiled anew."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            copied._drop_compiled()
            copied.model_post_init(None)
        return copied

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = {field.alias or name for name, field in cls.model_fields.items()}
            for key in data:
                if key not in known and key not in cls.model_fields:
                    if not isinstance(key, str):
                        raise _custom("unknown_key", f"unknown key {key!r}")
                    raise _custom("unknown_key", f"unknown key {key!r}{_suggest(key, known)}")
        return data


class Comparison(_Strict):
    """A leaf: compare one namespaced field with a value.

    ``value`` is normalized: a tuple for ``in``/``not_in``, a boolean for
    ``exists`` (``True`` when it was left out).
    """

    field: str
    op: Operator
    value: Scalar | tuple[Scalar, ...] | None = Field(default=None, validate_default=True)

    @property
    def namespace(self) -> str:
        """``features``, ``scores`` or ``properties``."""
        return self.field.partition(".")[0]

    @property
    def name(self) -> str:
        """The field name within its namespace."""
        return self.field.partition(".")[2]

    @field_validator("field")
    @classmethod
    def _check_field(cls, field: str, info: ValidationInfo) -> str:
        namespace, dot, name = field.partition(".")
        if not dot or not name or not namespace:
            raise _custom(
                "field_format",
                f"{field!r} must look like 'features.<name>', 'scores.<name>' "
                "or 'properties.<name>'",
            )
        if namespace not in NAMESPACES:
            close = difflib.get_close_matches(namespace, NAMESPACES, n=1, cutoff=0.6)
            hint = (
                f" (did you mean '{close[0]}.{name}'?)"
                if close
                else " (expected features., scores. or properties.)"
            )
            raise _custom("unknown_namespace", f"unknown namespace {namespace!r}{hint}")
        context = info.context if isinstance(info.context, Mapping) else {}
        context_key = _CONTEXT_KEYS.get(namespace)
        known = context.get(context_key) if context_key else None
        message = _unknown_name(namespace, name, known)
        if message is not None:
            raise _custom("unknown_name", message)
        return field

    @field_validator("op", mode="before")
    @classmethod
    def _check_op(cls, op: Any) -> Any:
        if not isinstance(op, str):
            raise _custom("operator_type", f"operator must be a string, got {_describe(op)}")
        if op not in OPERATORS:
            raise _custom(
                "unknown_operator",
                f"unknown operator {op!r}"
                + (_suggest(op, OPERATORS) or f" (expected one of {', '.join(OPERATORS)})"),
            )
        return op

    @field_validator("value", mode="before")
    @classmethod
    def _check_value(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:  # the operator itself is wrong: that is the error to report
            return None
        field = info.data.get("field")
        numeric = field is not None and field.partition(".")[0] in _NUMERIC_NAMESPACES
        return _normalize_value(op, value, field if numeric else None)


def _at_least_one(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    if not conditions:
        raise _custom("empty", "needs at least one condition")
    return conditions


class AllOf(_Strict):
    """True when every condition is true (at least one condition)."""

    all: tuple[Condition, ...]

    @field_validator("all")
    @classmethod
    def _not_empty(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        return _at_least_one(value)


class AnyOf(_Strict):
    """True when at least one condition is true (at least one condition)."""

    any: tuple[Condition, ...]

    @field_validator("any")
    @classmethod
    def _not_empty(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        return _at_least_one(value)


class Not(_Strict):
    """True when the condition is false."""

    not_: Condition = Field(alias="not")


_TAGS: dict[str, str] = {
    "all": "<all>",
    "any": "<any>",
    "not": "<not>",
    "not_": "<not>",  # as model_dump() without by_alias writes it
    "field": "<compare>",
}
_TAG_OF_TYPE: dict[type[BaseModel], str] = {
    AllOf: "<all>",
    AnyOf: "<any>",
    Not: "<not>",
    Comparison: "<compare>",
}


def _condition_tag(data: Any) -> str | None:
    """Which kind of condition ``data`` is: exactly one of all/any/not/field decides."""
    if isinstance(data, BaseModel):
        return _TAG_OF_TYPE.get(type(data))
    if not isinstance(data, Mapping):
        return None
    present = [tag for key, tag in _TAGS.items() if key in data]
    return present[0] if len(present) == 1 else None


Condition: TypeAlias = Annotated[
    Annotated[AllOf, Tag("<all>")]
    | Annotated[AnyOf, Tag("<any>")]
    | Annotated[Not, Tag("<not>")]
    | Annotated[Comparison, Tag("<compare>")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message=(
            "not a condition: expected a mapping with exactly one of 'all', 'any', 'not' or 'field'"
        ),
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def _leaves(condition: Condition, path: str) -> Iterator[tuple[str, Comparison]]:
    """Every comparison of a condition tree, with its path (``when.all[1]``)."""
    if isinstance(condition, Comparison):
        yield path, condition
    elif isinstance(condition, AllOf):
        for index, child in enumerate(condition.all):
            yield from _leaves(child, f"{path}.all[{index}]")
    elif isinstance(condition, AnyOf):
        for index, child in enumerate(condition.any):
            yield from _leaves(child, f"{path}.any[{index}]")
    else:
        yield from _leaves(condition.not_, f"{path}.not")
