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

from ..errors import RulesError
from .checks import (
    FEATURE_NAMES_KEY,
    NAMESPACES,
    OPERATORS,
    SCORE_NAMES_KEY,
    Operator,
    PropertyValue,
    Scalar,
)
from .conditions import AllOf, AnyOf, Comparison, Condition, Not
from .load import describe_rules_error, load_rules, parse_rules
from .ruleset import Rule, RuleSet

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
    "RulesError",
    "Scalar",
    "describe_rules_error",
    "load_rules",
    "parse_rules",
]
