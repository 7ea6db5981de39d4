"""Reading a rules file (YAML or JSON) into a checked :class:`RuleSet`, and its
errors as one line naming the file, the rule and the reason."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from ..errors import FirstError, RulesError
from .checks import FEATURE_NAMES_KEY, SCORE_NAMES_KEY, _describe
from .conditions import _TAG_OF_TYPE
from .ruleset import RuleSet


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
