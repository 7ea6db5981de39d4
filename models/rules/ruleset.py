"""A rule and a file's rule set: ids, names, compiled conditions, evaluation."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from functools import cached_property
from typing import Any

from pydantic import (
    field_validator,
    model_validator,
)

from ..errors import RulesError
from . import compiler
from .checks import _ID_MAX_LENGTH, _ID_PATTERN, PropertyValue, _custom, _Test, _unknown_name
from .conditions import Condition, _leaves, _Strict


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
        return compiler._compile(self.when)

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

    @functools.cached_property
    def score_fields(self) -> frozenset[str]:
        """The names of the scores the rules compare (``scores.<name>``)."""
        return frozenset(
            leaf.name
            for rule in self.segments
            for _, leaf in _leaves(rule.when, "when")
            if leaf.namespace == "scores"
        )

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
