"""Rule segments: declarative segments that marketers write in YAML or JSON.

A rules file is a mapping with one key, ``segments``: a list of rules, each with
an ``id``, a ``name``, an optional ``description`` and a condition ``when``.
A condition is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": <condition>}``
or a comparison ``{"field": "features.downloads_decision", "op": "gte", "value": 1}``.

Fields are namespaced: ``features.<name>`` and ``scores.<name>`` are numbers the
engine computes (their names are checked against the known ones when they are
given), ``properties.<name>`` are the customer's properties (strings, numbers or
booleans; any name). Operators:

==============  ============================================================
``eq``/``ne``  equal / not equal (a string, a number or a boolean)
``lt`` ...     ``lt``, ``lte``, ``gt``, ``gte``: numeric comparisons
``in``         the value is one of a non-empty list (``not_in``: is none of)
``exists``     the field is present (``value: false``: the field is absent)
``contains``   a string property contains a substring (case-sensitive)
==============  ============================================================

Semantics of evaluation, which never raises:

* A missing field (absent, or ``None``) makes every comparison false except
  ``exists: false``. So ``ne`` and ``not_in`` are *not* the negations of ``eq``
  and ``in`` for a missing field; ``{"not": {... "op": "eq" ...}}`` is.
* A type mismatch (a string property compared with a number, a boolean with a
  number, ...) makes the comparison false, ``ne`` and ``not_in`` included.
  Numbers compare across ``int`` and ``float`` (``1 == 1.0``); booleans are not
  numbers.
* ``all`` and ``any`` need at least one condition and short-circuit.

Conditions are compiled once, when a rule is built, into nested closures; no
string is ever evaluated as code.

>>> rules = RuleSet.model_validate(
...     {"segments": [{"id": "hot-lead", "name": "Hot lead", "when": {"all": [
...         {"field": "features.downloads_decision", "op": "gte", "value": 1},
...         {"field": "properties.company_size", "op": "in", "value": ["201-1000", "1000+"]},
...     ]}}]},
...     context={"feature_names": ["downloads_decision"], "score_names": []},
... )
>>> rules.evaluate({"downloads_decision": 2.0}, {}, {"company_size": "1000+"})
frozenset({'hot-lead'})
>>> rules.evaluate({"downloads_decision": 2.0}, {}, {})
frozenset()
>>> rules.names
{'hot-lead': 'Hot lead'}
>>> try:
...     parse_rules({"segments": [{"id": "x", "name": "X", "when": {
...         "field": "features.clikcs", "op": "gte", "value": 1}}]},
...         feature_names=["clicks", "downloads"], score_names=[], source="rules.yaml")
... except RulesError as error:
...     print(error)
rules.yaml: rule 'x': when.field: unknown feature 'clikcs' (did you mean 'clicks'?)
"""

from __future__ import annotations

import difflib
import json
import math
import operator
import os
import re
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from functools import cached_property
from numbers import Real
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeAlias, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import FirstError, RulesError

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


class Rule(_Strict):
    """One rule segment: an id, a display name and the condition for membership."""

    id: str
    name: str
    description: str | None = None
    when: Condition

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not value:
            raise _custom("id", "must not be empty")
        if len(value) > _ID_MAX_LENGTH:
            raise _custom("id", f"must be at most {_ID_MAX_LENGTH} characters")
        if not _ID_PATTERN.fullmatch(value):
            raise _custom("id", "use only lowercase letters, digits, '-' and '_'")
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value.strip():
            raise _custom("name", "must not be empty")
        return value

    @cached_property
    def _test(self) -> _Test:
        return _compile(self.when)

    def model_post_init(self, context: Any, /) -> None:
        """Compile the condition once, when the rule is built."""
        self._test  # noqa: B018 - fills the cached property

    def matches(
        self,
        features: Mapping[str, float],
        scores: Mapping[str, float],
        properties: Mapping[str, PropertyValue],
    ) -> bool:
        """Whether the condition holds for these inputs."""
        return self._test((features, scores, properties))


class RuleSet(_Strict):
    """The rules of a file, compiled, with unique ids.

    Validate with ``RuleSet.model_validate(data, context={"feature_names": [...],
    "score_names": [...]})`` to check feature and score names (a namespace whose
    key is absent from the context is not checked), or call :meth:`validate_names`
    afterwards. :func:`load_rules` and :func:`parse_rules` do this and raise
    :class:`RulesError` with one line instead of a pydantic ``ValidationError``.
    """

    segments: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        first: dict[str, int] = {}
        for index, rule in enumerate(self.segments):
            if rule.id in first:
                raise _custom(
                    "duplicate_id",
                    f"duplicate rule id {rule.id!r} (segments[{first[rule.id]}] and "
                    f"segments[{index}])",
                )
            first[rule.id] = index
        return self

    @classmethod
    def empty(cls) -> RuleSet:
        """A rule set with no rules (``evaluate`` always gives the empty set)."""
        return cls(segments=())

    @cached_property
    def _tests(self) -> tuple[tuple[str, _Test], ...]:
        return tuple((rule.id, rule._test) for rule in self.segments)

    def model_post_init(self, context: Any, /) -> None:
        """Collect the compiled rules once."""
        self._tests  # noqa: B018 - fills the cached property

    @property
    def ids(self) -> tuple[str, ...]:
        """The rule ids, in file order."""
        return tuple(rule.id for rule in self.segments)

    @property
    def names(self) -> dict[str, str]:
        """Display name of each rule, by id, in file order."""
        return {rule.id: rule.name for rule in self.segments}

    def evaluate(
        self,
        features: Mapping[str, float],
        scores: Mapping[str, float],
        properties: Mapping[str, PropertyValue],
    ) -> frozenset[str]:
        """The ids of the rules whose condition holds for these inputs.

        Parameters
        ----------
        features, scores
            The customer's features and scores by name (``features.<name>``,
            ``scores.<name>``).
        properties
            The customer's properties by name (``properties.<name>``).

        Returns
        -------
        frozenset[str]
            The matching rule ids. Never raises for missing fields or mismatched
            types: see the module docstring for the semantics.
        """
        inputs = (features, scores, properties)
        return frozenset([rule_id for rule_id, test in self._tests if test(inputs)])

    def validate_names(
        self,
        feature_names: Collection[str],
        score_names: Collection[str],
        *,
        source: str = "<rules>",
    ) -> None:
        """Check the feature and score names of every comparison.

        Parameters
        ----------
        feature_names, score_names
            The known names of ``features.`` and ``scores.`` fields.
        source
            What the error message starts with (usually the file name).

        Raises
        ------
        RulesError
            For the first unknown name, with a suggestion when one is close.
        """
        known = {"features": feature_names, "scores": score_names}
        for rule in self.segments:
            for path, leaf in _leaves(rule.when, "when"):
                message = _unknown_name(leaf.namespace, leaf.name, known.get(leaf.namespace))
                if message is not None:
                    raise RulesError(f"{source}: rule {rule.id!r}: {path}.field: {message}")


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


# -- compilation ---------------------------------------------------------------------------

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


# -- loading -------------------------------------------------------------------------------


class _RulesLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2-like scalars and no duplicate keys.

    ``yes``/``no``/``on``/``off`` stay strings (only ``true``/``false`` are
    booleans), ``1e3`` is a number, dates and times stay strings, numbers with a
    leading zero (``01234``, a zip code) stay strings, ``1:30`` stays a string.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_REPLACED_TAGS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
_RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _one_line(text: str) -> str:
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


def _read_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_RulesLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = error.problem or error.context or "syntax error"
        if error.problem and error.context and error.problem.startswith("but "):
            problem = f"{error.context}, {error.problem}"
        raise RulesError(_one_line(f"{source}: not valid YAML{where}: {problem}")) from None
    except yaml.YAMLError as error:
        raise RulesError(_one_line(f"{source}: not valid YAML: {error}")) from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _read_json(text: str, source: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise RulesError(
            _one_line(
                f"{source}: not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}"
            )
        ) from None
    except ValueError as error:
        raise RulesError(_one_line(f"{source}: not valid JSON: {error}")) from None


_READERS: dict[str, Callable[[str, str], object]] = {
    ".yaml": _read_yaml,
    ".yml": _read_yaml,
    ".json": _read_json,
}


def load_rules(
    path: str | os.PathLike[str],
    feature_names: Collection[str],
    score_names: Collection[str],
) -> RuleSet:
    """Load and compile a rules file (``.yaml``, ``.yml`` or ``.json``).

    Parameters
    ----------
    path
        The rules file; its suffix says the format.
    feature_names, score_names
        The known names for ``features.`` and ``scores.`` fields; any other name
        is an error (with a suggestion when one is close).

    Returns
    -------
    RuleSet
        The compiled rules, ready for :meth:`RuleSet.evaluate`.

    Raises
    ------
    RulesError
        With one line: the file, the rule (its id, or ``segments[i]``) and the
        reason, e.g. ``rules.yaml: rule 'hot-lead': when.all[1].op: unknown
        operator 'greater' ...``.
    """
    source = os.fspath(path)
    suffix = Path(source).suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise RulesError(
            f"{source}: unsupported file type {suffix or '(none)'!r} "
            "(expected .yaml, .yml or .json)"
        )
    try:
        raw = Path(source).read_bytes()
    except FileNotFoundError:
        raise RulesError(f"{source}: file not found") from None
    except OSError as error:
        raise RulesError(_one_line(f"{source}: cannot read: {error.strerror or error}")) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RulesError(f"{source}: not UTF-8 text (byte {error.start})") from None
    data = reader(text, source) if text.strip() else None
    return parse_rules(data, feature_names=feature_names, score_names=score_names, source=source)


def parse_rules(
    data: object,
    *,
    feature_names: Collection[str] | None = None,
    score_names: Collection[str] | None = None,
    source: str = "<rules>",
) -> RuleSet:
    """Validate and compile already-parsed rules (a mapping, as read from YAML or JSON).

    Parameters
    ----------
    data
        The parsed file: a mapping with a ``segments`` list.
    feature_names, score_names
        The known names; ``None`` leaves that namespace unchecked.
    source
        What error messages start with (usually the file name).

    Returns
    -------
    RuleSet
        The compiled rules.

    Raises
    ------
    RulesError
        With one line: ``source``, the rule and the reason.
    """
    if data is None:
        raise RulesError(f"{source}: empty file (expected a mapping with a 'segments' list)")
    if not isinstance(data, Mapping):
        raise RulesError(
            f"{source}: top level must be a mapping with a 'segments' list, got {_describe(data)}"
        )
    context: dict[str, Collection[str]] = {}
    if feature_names is not None:
        context[FEATURE_NAMES_KEY] = feature_names
    if score_names is not None:
        context[SCORE_NAMES_KEY] = score_names
    try:
        return RuleSet.model_validate(data, context=context)
    except ValidationError as error:
        raise RulesError(_one_line(describe_rules_error(error, data, source))) from None


_GENERIC_MESSAGES: dict[str, str] = {
    "missing": "required",
    "string_type": "must be a string",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


_NO_INPUT_SHOWN = frozenset({"missing", "too_short", "string_too_short"})


def describe_rules_error(error: ValidationError, data: object, source: str) -> str:
    """One line for the first error of validating ``data`` as a :class:`RuleSet`."""
    first = FirstError.of(error)
    loc = [part for part in first.loc if part not in _TAG_OF_TYPE.values()]
    reason = _GENERIC_MESSAGES.get(first.type, first.message)
    if first.type in _GENERIC_MESSAGES and first.type not in _NO_INPUT_SHOWN:
        reason += f", got {_describe(first.input)}"
    prefix = source
    if len(loc) >= 2 and loc[0] == "segments" and isinstance(loc[1], int):
        prefix += f": {_rule_label(data, loc[1])}"
        loc = loc[2:]
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return first.line(f"{prefix}: {path}" if path else prefix, reason)


def _rule_label(data: object, index: int) -> str:
    """``rule 'id'`` when the rule has a usable id, else ``segments[index]``."""
    segments = data.get("segments") if isinstance(data, Mapping) else None
    if isinstance(segments, list | tuple) and index < len(segments):
        rule = segments[index]
        rule_id = rule.get("id") if isinstance(rule, Mapping) else None
        if isinstance(rule_id, str) and rule_id.strip():
            return f"rule {rule_id!r}"
    return f"segments[{index}]"


__all__ = [
    "FEATURE_NAMES_KEY",
    "NAMESPACES",
    "OPERATORS",
    "SCORE_NAMES_KEY",
    "AllOf",
    "AnyOf",
    "Comparison",
    "Condition",
    "Not",
    "Operator",
    "PropertyValue",
    "Rule",
    "RuleSet",
    "describe_rules_error",
    "load_rules",
    "parse_rules",
]
