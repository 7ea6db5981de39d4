"""Rule segments: loading YAML/JSON, one-line errors, and evaluation semantics."""

from __future__ import annotations

import copy
import json
import operator
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from segflow.models.errors import RulesError, SegflowError
from segflow.models.features import FEATURE_NAMES
from segflow.models.rules import (
    OPERATORS,
    AllOf,
    Comparison,
    Not,
    RuleSet,
    load_rules,
    parse_rules,
)
from segflow.models.rules import compiler as rules_compiler
from segflow.models.scoring import SCORE_NAMES

DATA = Path(__file__).parent / "data" / "rules"
EXAMPLE = Path(__file__).parents[2] / "examples" / "rules.yaml"

FEATURES = (
    "clicks",
    "downloads_decision",
    "days_since_active",
    "spend",
    "unsubscribed",
    "open_rate",
)
SCORES = ("engagement", "purchase_intent")


def load(name: str) -> RuleSet:
    return load_rules(DATA / name, feature_names=FEATURES, score_names=SCORES)


def one_rule(when: Any) -> RuleSet:
    return parse_rules(
        {"segments": [{"id": "r", "name": "R", "when": when}]},
        feature_names=FEATURES,
        score_names=SCORES,
    )


def holds(
    when: Any,
    features: Mapping[str, Any] | None = None,
    scores: Mapping[str, Any] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> bool:
    result = one_rule(when).evaluate(features or {}, scores or {}, properties or {})
    assert result <= {"r"}
    return result == {"r"}


def rule_error(when: Any) -> str:
    with pytest.raises(RulesError) as caught:
        parse_rules(
            {"segments": [{"id": "r", "name": "R", "when": when}]},
            feature_names=FEATURES,
            score_names=SCORES,
            source="rules.yaml",
        )
    return str(caught.value)


# -- loading good files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["good.yaml", "good.json"])
def test_good_file_loads_with_ids_names_and_descriptions(name: str) -> None:
    rules = load(name)

    assert rules.ids == (
        "hot-lead",
        "cold_contact",
        "mid-spender",
        "not-from-partner",
        "gmail",
        "no-owner",
        "has-owner",
        "engaged",
        "norway",
    )
    assert rules.names["hot-lead"] == "Hot lead"
    assert rules.names["no-owner"] == "No account owner"
    assert rules.segments[0].description == (
        "Decision-stage content, a big company or a demo request, not unsubscribed."
    )
    assert rules.segments[1].description is None


def test_yaml_and_json_files_give_equal_rule_sets() -> None:
    assert load("good.yaml") == load("good.json")


@pytest.mark.parametrize("name", ["good.yaml", "good.json"])
@pytest.mark.parametrize(
    ("features", "scores", "properties", "expected"),
    [
        pytest.param(
            {"downloads_decision": 2.0, "clicks": 4.0, "days_since_active": 1.0, "spend": 0.0},
            {"engagement": 0.7},
            {"company_size": "1000+", "lead_source": "web", "account_owner": "ann"},
            {"hot-lead", "not-from-partner", "has-owner", "engaged"},
            id="big-company-hot-lead",
        ),
        pytest.param(
            {"downloads_decision": 1.0, "clicks": 0.5, "spend": 250.0, "unsubscribed": 0.0},
            {"engagement": 0.1},
            {"company_size": "1-10", "lead_source": "demo_request", "email": "bo@gmail.com"},
            {"hot-lead", "cold_contact", "mid-spender", "not-from-partner", "gmail", "no-owner"},
            id="demo-request-hot-lead",
        ),
        pytest.param(
            {"downloads_decision": 3.0, "unsubscribed": 1.0, "clicks": 2.0, "spend": 1000},
            {},
            {"company_size": "201-1000", "lead_source": "partner", "country": "NO"},
            {"mid-spender", "no-owner", "norway"},
            id="unsubscribed-partner",
        ),
        pytest.param(
            {"days_since_active": 90.0, "clicks": 5.0, "spend": 1000.5},
            {"engagement": 0.5},
            {"lead_source": "reseller", "email": "cy@example.com", "account_owner": "dan"},
            {"cold_contact", "has-owner", "engaged"},
            id="dormant-reseller",
        ),
        pytest.param({}, {}, {}, {"no-owner"}, id="nothing-known"),
    ],
)
def test_good_file_evaluates_hand_built_customers(
    name: str,
    features: dict[str, float],
    scores: dict[str, float],
    properties: dict[str, Any],
    expected: set[str],
) -> None:
    assert load(name).evaluate(features, scores, properties) == frozenset(expected)


def test_example_file_loads_against_the_real_feature_names_and_evaluates() -> None:
    rules = load_rules(EXAMPLE, feature_names=FEATURE_NAMES, score_names=SCORE_NAMES)

    assert 4 <= len(rules.segments) <= 8
    features = dict.fromkeys(FEATURE_NAMES, 0.0) | {
        "downloads_decision": 1.0,
        "days_since_active": 2.0,
    }
    properties = {"company_size": "1000+", "country": "DE"}
    assert rules.evaluate(features, {"engagement": 95.0}, properties) == {
        "hot-lead",
        "high-activity-no-owner",
    }
    assert rules.evaluate(features | {"unsubscribed": 1.0}, {}, properties) == frozenset()


def test_yaml_keeps_norway_zip_codes_and_dates_as_strings_and_reads_1e3_as_a_number(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        "segments:\n"
        "  - {id: a, name: A, when: {field: properties.country, op: in, value: [NO, yes, on]}}\n"
        "  - {id: b, name: B, when: {field: properties.zip, op: eq, value: 01234}}\n"
        "  - {id: c, name: C, when: {field: properties.signup, op: eq, value: 2026-01-31}}\n"
        "  - {id: d, name: D, when: {field: features.spend, op: gte, value: 1e3}}\n"
        "  - {id: e, name: E, when: {field: properties.vip, op: eq, value: true}}\n"
    )
    rules = load_rules(path, feature_names=FEATURES, score_names=SCORES)

    assert rules.segments[0].when == Comparison(
        field="properties.country", op="in", value=("NO", "yes", "on")
    )
    assert rules.evaluate(
        {"spend": 1000.0},
        {},
        {"country": "NO", "zip": "01234", "signup": "2026-01-31", "vip": True},
    ) == {"a", "b", "c", "d", "e"}
    assert rules.evaluate({"spend": 999.0}, {}, {"country": "SE", "vip": 1}) == frozenset()


def test_rule_set_empty_matches_nothing() -> None:
    empty = RuleSet.empty()

    assert empty.evaluate({"clicks": 1.0}, {}, {"x": "y"}) == frozenset()
    assert empty.names == {}
    assert parse_rules({"segments": []}) == empty


# -- evaluation semantics --------------------------------------------------------------------

MISSING = object()


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        # eq / ne: same kind of value only; numbers across int and float.
        ("eq", "web", "web", True),
        ("eq", "web", "Web", False),
        ("eq", 1, 1.0, True),
        ("eq", 1, True, False),
        ("eq", True, True, True),
        ("eq", True, 1, False),
        ("eq", "1", 1, False),
        ("eq", "web", MISSING, False),
        ("ne", "web", "seo", True),
        ("ne", "web", "web", False),
        ("ne", "web", 3, False),
        ("ne", 3, "web", False),
        ("ne", 3, 4.5, True),
        ("ne", "web", MISSING, False),
        # order: numbers only.
        ("lt", 10, 9.5, True),
        ("lt", 10, 10, False),
        ("lte", 10, 10.0, True),
        ("lte", 10, 10.5, False),
        ("gt", 0, 0.001, True),
        ("gt", 0, 0, False),
        ("gte", 0.5, 0.5, True),
        ("gte", 0.5, 0.49, False),
        ("gte", 1, "5", False),
        ("gte", 1, True, False),
        ("gte", 1, MISSING, False),
        ("lt", 1, float("nan"), False),
        ("gte", 1, np.float64(2.0), True),
        ("gte", 1, np.int64(2), True),
        ("lt", 1, np.float32(0.5), True),
        # in / not_in.
        ("in", ["201-1000", "1000+"], "1000+", True),
        ("in", ["201-1000", "1000+"], "1-10", False),
        ("in", [1, 2, "x"], 2.0, True),
        ("in", [1, 2], True, False),
        ("in", [True], 1, False),
        ("in", ["a"], MISSING, False),
        ("not_in", ["partner", "reseller"], "web", True),
        ("not_in", ["partner", "reseller"], "partner", False),
        ("not_in", ["partner", "reseller"], 3, False),
        ("not_in", [1, "x"], 3, True),
        ("not_in", ["partner"], MISSING, False),
        # exists.
        ("exists", None, "anything", True),
        ("exists", None, 0, True),
        ("exists", None, MISSING, False),
        ("exists", True, False, True),
        ("exists", False, MISSING, True),
        ("exists", False, "", False),
        # contains: strings only, case-sensitive.
        ("contains", "webinar", "2026-spring-webinar", True),
        ("contains", "webinar", "Webinar", False),
        ("contains", "1", 1, False),
        ("contains", "x", MISSING, False),
    ],
)
def test_every_operator_on_a_property(op: str, value: Any, actual: Any, expected: bool) -> None:
    leaf: dict[str, Any] = {"field": "properties.p", "op": op}
    if value is not None:
        leaf["value"] = value
    properties = {} if actual is MISSING else {"p": actual}

    assert holds(leaf, properties=properties) is expected


def test_none_counts_as_missing() -> None:
    assert not holds({"field": "properties.p", "op": "exists"}, properties={"p": None})
    assert holds({"field": "properties.p", "op": "exists", "value": False}, properties={"p": None})
    assert not holds({"field": "properties.p", "op": "ne", "value": 1}, properties={"p": None})


def test_namespaces_read_their_own_mapping() -> None:
    when = {"field": "features.clicks", "op": "gte", "value": 1}
    assert holds(when, features={"clicks": 1.0})
    assert not holds(when, scores={"clicks": 1.0}, properties={"clicks": 1.0})
    when = {"field": "scores.engagement", "op": "gte", "value": 1}
    assert holds(when, scores={"engagement": 2.0})
    assert not holds(when, features={"engagement": 2.0})


def test_negation_of_eq_is_true_for_a_missing_value_but_ne_is_not() -> None:
    eq = {"field": "properties.lead_source", "op": "eq", "value": "web"}
    ne = {"field": "properties.lead_source", "op": "ne", "value": "web"}

    assert holds({"not": eq})
    assert not holds(ne)


def test_nested_all_any_not() -> None:
    when = {
        "any": [
            {
                "all": [
                    {"field": "features.clicks", "op": "gte", "value": 3},
                    {"not": {"field": "properties.plan", "op": "eq", "value": "free"}},
                ]
            },
            {
                "not": {
                    "any": [
                        {"field": "features.spend", "op": "lt", "value": 100},
                        {"field": "properties.plan", "op": "exists"},
                    ]
                }
            },
        ]
    }

    assert holds(when, features={"clicks": 3.0}, properties={"plan": "pro"})
    assert not holds(when, features={"clicks": 3.0}, properties={"plan": "free"})
    assert not holds(when, features={"clicks": 2.0, "spend": 50.0})
    assert holds(when, features={"clicks": 2.0, "spend": 500.0})
    assert holds(when, features={"clicks": 3.0})


def test_conditions_are_compiled_at_load_not_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load("good.yaml")

    def fail(*args: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(rules_compiler, "_compile", fail)
    monkeypatch.setattr(rules_compiler, "_compile_comparison", fail)
    assert rules.evaluate({"spend": 10.0}, {}, {}) == {"mid-spender", "no-owner"}


def test_rule_matches_and_rule_set_are_frozen() -> None:
    rules = load("good.yaml")

    assert rules.segments[4].matches({}, {}, {"email": "a@gmail.com"})
    with pytest.raises(ValidationError):
        rules.segments[0].name = "Other"  # type: ignore[misc]


def test_models_can_be_built_in_python() -> None:
    rule_set = RuleSet.model_validate(
        {
            "segments": [
                {
                    "id": "a",
                    "name": "A",
                    "when": AllOf(
                        all=(
                            Comparison(field="features.clicks", op="gt", value=0),
                            Not(not_=Comparison(field="properties.x", op="exists")),
                        )
                    ),
                }
            ]
        }
    )
    assert rule_set.evaluate({"clicks": 1.0}, {}, {}) == {"a"}
    assert rule_set.evaluate({"clicks": 1.0}, {}, {"x": 1}) == frozenset()


@pytest.mark.parametrize(
    "dump",
    [
        lambda rules: rules.model_dump(),
        lambda rules: rules.model_dump(by_alias=True),
        lambda rules: rules.model_dump(mode="json", by_alias=True),
        lambda rules: json.loads(rules.model_dump_json(by_alias=True)),
    ],
)
def test_dump_round_trips(dump: Callable[[RuleSet], Any]) -> None:
    rules = load("good.yaml")
    assert RuleSet.model_validate(dump(rules)) == rules


def test_pickle_and_copies_keep_working_rules() -> None:
    rules = load("good.yaml")
    inputs: tuple[dict[str, float], dict[str, float], dict[str, Any]] = ({"spend": 10.0}, {}, {})

    assert pickle.loads(pickle.dumps(rules)) == rules
    assert pickle.loads(pickle.dumps(rules)).evaluate(*inputs) == {"mid-spender", "no-owner"}
    assert copy.deepcopy(rules).evaluate(*inputs) == {"mid-spender", "no-owner"}
    rule = rules.segments[0].model_copy(
        update={"when": Comparison(field="properties.x", op="exists")}
    )
    assert rule.matches({}, {}, {"x": 1})
    assert not rules.segments[0].matches({}, {}, {"x": 1})
    assert rules.model_copy(update={"segments": (rule,)}).evaluate({}, {}, {"x": 1}) == {"hot-lead"}


# -- bad files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "unknown_operator.yaml",
            "rule 'hot-lead': when.all[1].op: unknown operator 'greater' (did you mean 'gte'?)",
        ),
        (
            "unknown_feature.yaml",
            "rule 'hot-lead': when.any[1].field: unknown feature 'downloads_decison' "
            "(did you mean 'downloads_decision'?)",
        ),
        (
            "wrong_value_type.yaml",
            "rule 'big-spender': when.not.value: operator 'lt' on features.spend needs a number, "
            "got '1000'",
        ),
        (
            "empty_in_list.json",
            "rule 'enterprise': when.value: operator 'in' needs a non-empty list",
        ),
        ("duplicate_id.yaml", "duplicate rule id 'x' (segments[0] and segments[2])"),
        (
            "bad_syntax.yaml",
            "not valid YAML (line 3, column 19): mapping values are not allowed here",
        ),
        (
            "bad_syntax.json",
            "not valid JSON (line 3, column 4): Expecting ',' delimiter",
        ),
        (
            "not_a_mapping.yaml",
            "top level must be a mapping with a 'segments' list, got a list",
        ),
        ("no_id.yaml", "segments[1]: id: required"),
    ],
)
def test_bad_file_is_rejected_with_one_line_naming_file_rule_and_reason(
    name: str, reason: str
) -> None:
    path = DATA / name
    with pytest.raises(RulesError) as caught:
        load(name)

    assert str(caught.value) == f"{path}: {reason}"
    assert isinstance(caught.value, SegflowError)
    assert isinstance(caught.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    with pytest.raises(RulesError, match=r"rules\.yaml: file not found$"):
        load_rules(path, feature_names=FEATURES, score_names=SCORES)


@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        ("rules.yaml", b"", "empty file (expected a mapping with a 'segments' list)"),
        ("rules.json", b"  \n", "empty file (expected a mapping with a 'segments' list)"),
        (
            "rules.yaml",
            b"hello\n",
            "top level must be a mapping with a 'segments' list, got 'hello'",
        ),
        ("rules.json", b"[1, 2]", "top level must be a mapping with a 'segments' list, got a list"),
        ("rules.yaml", b"segmnets: []\n", "unknown key 'segmnets' (did you mean 'segments'?)"),
        ("rules.yaml", b"segments: {a: 1}\n", "segments: must be a list, got a mapping"),
        ("rules.yaml", b"segments: [5]\n", "segments[0]: must be a mapping, got 5"),
        ("rules.yaml", b"a: 1\na: 2\n", "not valid YAML (line 2, column 1): duplicate key 'a'"),
        (
            "rules.json",
            b'{"segments": [], "segments": []}',
            "not valid JSON: duplicate key 'segments'",
        ),
        ("rules.yaml", b"segments: \xff\n", "not UTF-8 text (byte 10)"),
        ("rules.toml", b"", "unsupported file type '.toml' (expected .yaml, .yml or .json)"),
        ("rules", b"", "unsupported file type '(none)' (expected .yaml, .yml or .json)"),
        (
            "rules.yaml",
            b"segments: []\n---\nsegments: []\n",
            "not valid YAML (line 2, column 1): expected a single document in the stream, "
            "but found another document",
        ),
    ],
)
def test_bad_file_contents(tmp_path: Path, filename: str, content: bytes, reason: str) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(RulesError) as caught:
        load_rules(path, feature_names=FEATURES, score_names=SCORES)

    assert str(caught.value) == f"{path}: {reason}"


def test_directory_is_rejected_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.mkdir()
    with pytest.raises(RulesError, match=r"rules\.yaml: cannot read: "):
        load_rules(path, feature_names=FEATURES, score_names=SCORES)


C = {"field": "properties.x", "op": "exists"}


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (
            {"field": "feature.clicks", "op": "gte", "value": 1},
            "when.field: unknown namespace 'feature' (did you mean 'features.clicks'?)",
        ),
        (
            {"field": "clicks", "op": "gte", "value": 1},
            "when.field: 'clicks' must look like 'features.<name>', 'scores.<name>' "
            "or 'properties.<name>'",
        ),
        (
            {"field": "features.", "op": "exists"},
            "when.field: 'features.' must look like 'features.<name>', 'scores.<name>' "
            "or 'properties.<name>'",
        ),
        (
            {"field": "scores.engagment", "op": "gte", "value": 1},
            "when.field: unknown score 'engagment' (did you mean 'engagement'?)",
        ),
        (
            {"field": "features.zzz", "op": "gte", "value": 1},
            "when.field: unknown feature 'zzz'",
        ),
        (
            {"field": "properties.x", "op": "like", "value": 1},
            "when.op: unknown operator 'like' (expected one of " + ", ".join(OPERATORS) + ")",
        ),
        ({"field": "properties.x", "op": 5}, "when.op: operator must be a string, got 5"),
        ({"field": "properties.x", "op": "eq"}, "when.value: operator 'eq' needs a value"),
        (
            {"field": "properties.x", "op": "eq", "value": ["a", "b"]},
            "when.value: operator 'eq' needs a single value, got a list (use 'in')",
        ),
        (
            {"field": "properties.x", "op": "gt", "value": "10"},
            "when.value: operator 'gt' needs a number, got '10'",
        ),
        (
            {"field": "features.clicks", "op": "eq", "value": True},
            "when.value: operator 'eq' on features.clicks needs a number, got True",
        ),
        (
            {"field": "properties.x", "op": "in", "value": "a"},
            "when.value: operator 'in' needs a list, got 'a'",
        ),
        (
            {"field": "properties.x", "op": "not_in", "value": []},
            "when.value: operator 'not_in' needs a non-empty list",
        ),
        (
            {"field": "properties.x", "op": "in", "value": ["a", {"b": 1}]},
            "when.value: operator 'in' needs a string, a number or a boolean, got a mapping at [1]",
        ),
        (
            {"field": "features.clicks", "op": "in", "value": [1, "2"]},
            "when.value: operator 'in' on features.clicks needs a number, got '2' at [1]",
        ),
        (
            {"field": "features.clicks", "op": "contains", "value": "1"},
            "when.value: operator 'contains' applies to properties only "
            "(features.clicks is a number)",
        ),
        (
            {"field": "properties.x", "op": "contains", "value": 1},
            "when.value: operator 'contains' needs a string, got 1",
        ),
        (
            {"field": "properties.x", "op": "exists", "value": "yes"},
            "when.value: operator 'exists' takes no value, or true/false, got 'yes'",
        ),
        (
            {"field": "properties.x", "op": "eq", "value": float("nan")},
            "when.value: operator 'eq' cannot compare with NaN",
        ),
        (
            {"field": "properties.x", "op": "exists", "vlaue": True},
            "when: unknown key 'vlaue' (did you mean 'value'?)",
        ),
        ({"all": []}, "when.all: needs at least one condition"),
        ({"any": "x"}, "when.any: must be a list, got 'x'"),
        (
            {"all": [C, {"any": [C], "field": "properties.x"}]},
            "when.all[1]: not a condition: expected a mapping with exactly one of 'all', 'any', "
            "'not' or 'field'",
        ),
        (
            "features.clicks > 3",
            "when: not a condition: expected a mapping with exactly one of 'all', 'any', "
            "'not' or 'field'",
        ),
        (
            {"not": {"not": {"field": 7, "op": "exists"}}},
            "when.not.not.field: must be a string, got 7",
        ),
    ],
)
def test_bad_condition_message_names_rule_path_and_reason(when: Any, reason: str) -> None:
    assert rule_error(when) == f"rules.yaml: rule 'r': {reason}"


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ({"id": "Hot Lead", "name": "x", "when": C}, "rule 'Hot Lead': id: use only lowercase "
         "letters, digits, '-' and '_'"),
        ({"id": "", "name": "x", "when": C}, "segments[0]: id: must not be empty"),
        ({"id": 5, "name": "x", "when": C}, "segments[0]: id: must be a string, got 5"),
        ({"id": "a" * 65, "name": "x", "when": C}, f"rule '{'a' * 65}': id: must be at most 64 "
         "characters"),
        ({"id": "a", "name": " ", "when": C}, "rule 'a': name: must not be empty"),
        ({"id": "a", "when": C}, "rule 'a': name: required"),
        ({"id": "a", "name": "A"}, "rule 'a': when: required"),
        ({"id": "a", "name": "A", "when": C, "descripton": "d"},
         "rule 'a': unknown key 'descripton' (did you mean 'description'?)"),
    ],
)  # fmt: skip
def test_bad_rule_message(rule: dict[str, Any], reason: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules({"segments": [rule]}, source="rules.yaml")
    assert str(caught.value) == f"rules.yaml: {reason}"


def test_more_errors_are_counted() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(
            {
                "segments": [
                    {"id": "a", "name": "A", "when": {"field": "properties.x", "op": "gt"}},
                    {"id": "b", "name": "B", "when": {"field": "properties.x", "op": "nope"}},
                ]
            },
            source="r.json",
        )
    assert (
        str(caught.value)
        == "r.json: rule 'a': when.value: operator 'gt' needs a value (and 1 more)"
    )


def test_error_message_is_one_line_even_with_newlines_in_input() -> None:
    message = rule_error({"field": "properties.x", "op": "in\nvalid"})
    assert "\n" not in message
    assert message.startswith("rules.yaml: rule 'r': when.op: unknown operator 'in\\nvalid'")


def test_names_unchecked_without_context_and_checked_with_it_or_later() -> None:
    data = {
        "segments": [
            {"id": "a", "name": "A", "when": {"field": "features.clickz", "op": "gt", "value": 0}}
        ]
    }

    unchecked = RuleSet.model_validate(data)
    assert unchecked.evaluate({"clickz": 1.0}, {}, {}) == {"a"}
    with pytest.raises(RulesError) as caught:
        unchecked.validate_names(FEATURES, SCORES, source="rules.yaml")
    assert str(caught.value) == (
        "rules.yaml: rule 'a': when.field: unknown feature 'clickz' (did you mean 'clicks'?)"
    )
    with pytest.raises(ValidationError, match="unknown feature 'clickz'"):
        RuleSet.model_validate(data, context={"feature_names": FEATURES})
    # A namespace missing from the context is not checked.
    RuleSet.model_validate(data, context={"score_names": SCORES})
    unchecked.validate_names([*FEATURES, "clickz"], [])


# -- properties ------------------------------------------------------------------------------

PROPERTY_NAMES = ("p0", "p1", "p2")
FEATURE_LEAF_NAMES = ("clicks", "spend")
STRINGS = ("a", "b", "ab", "")
NUMBERS = (-1, 0, 1, 2.5, 1.0)

numbers = st.sampled_from(NUMBERS)
scalars = st.one_of(st.sampled_from(STRINGS), numbers, st.booleans())


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        field = "features." + draw(st.sampled_from(FEATURE_LEAF_NAMES))
        op = draw(st.sampled_from([op for op in OPERATORS if op != "contains"]))
        if op == "exists":
            value: Any = draw(st.booleans())
        elif op in ("in", "not_in"):
            value = draw(st.lists(numbers, min_size=1, max_size=3))
        else:
            value = draw(numbers)
    else:
        field = "properties." + draw(st.sampled_from(PROPERTY_NAMES))
        op = draw(st.sampled_from(OPERATORS))
        if op in ("in", "not_in"):
            value = draw(st.lists(scalars, min_size=1, max_size=3))
        elif op == "exists":
            value = draw(st.booleans())
        elif op == "contains":
            value = draw(st.sampled_from(STRINGS))
        elif op in ("eq", "ne"):
            value = draw(scalars)
        else:
            value = draw(numbers)
    return {"field": field, "op": op, "value": value}


conditions = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=4).map(lambda items: {"any": items}),
        children.map(lambda child: {"not": child}),
    ),
    max_leaves=12,
)
feature_inputs = st.dictionaries(st.sampled_from(FEATURE_LEAF_NAMES), numbers)
property_inputs = st.dictionaries(
    st.sampled_from(PROPERTY_NAMES), st.one_of(scalars, st.none(), st.just([1]))
)


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str" if isinstance(value, str) else None


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def oracle_leaf(
    leaf: Mapping[str, Any], features: Mapping[str, Any], props: Mapping[str, Any]
) -> bool:
    """The documented semantics, written independently of the implementation."""
    namespace, _, name = leaf["field"].partition(".")
    actual = (features if namespace == "features" else props).get(name)
    op, value = leaf["op"], leaf["value"]
    if op == "exists":
        return (actual is not None) is value
    if actual is None:
        return False
    same = [v for v in (value if op in ("in", "not_in") else [value]) if _kind(v) == _kind(actual)]
    if op in ("eq", "in"):
        return bool(same) and actual in same
    if op in ("ne", "not_in"):
        return bool(same) and actual not in same
    if op == "contains":
        return isinstance(actual, str) and value in actual
    return _kind(actual) == "number" and _ORDER[op](actual, value)


def oracle(when: Mapping[str, Any], features: Mapping[str, Any], props: Mapping[str, Any]) -> bool:
    if "all" in when:
        return all(oracle(child, features, props) for child in when["all"])
    if "any" in when:
        return any(oracle(child, features, props) for child in when["any"])
    if "not" in when:
        return not oracle(when["not"], features, props)
    return oracle_leaf(when, features, props)


@settings(max_examples=200, deadline=None)
@given(condition=conditions, features=feature_inputs, properties=property_inputs)
def test_not_inverts(
    condition: dict[str, Any], features: dict[str, float], properties: dict[str, Any]
) -> None:
    assert holds({"not": condition}, features, {}, properties) is not holds(
        condition, features, {}, properties
    )


@settings(max_examples=200, deadline=None)
@given(
    children=st.lists(conditions, min_size=1, max_size=5),
    features=feature_inputs,
    properties=property_inputs,
)
def test_all_and_any_agree_with_python(
    children: list[dict[str, Any]], features: dict[str, float], properties: dict[str, Any]
) -> None:
    results = [holds(child, features, {}, properties) for child in children]

    assert holds({"all": children}, features, {}, properties) is all(results)
    assert holds({"any": children}, features, {}, properties) is any(results)


@settings(max_examples=300, deadline=None)
@given(condition=conditions, features=feature_inputs, properties=property_inputs)
def test_evaluation_matches_the_documented_semantics(
    condition: dict[str, Any], features: dict[str, float], properties: dict[str, Any]
) -> None:
    assert holds(condition, features, {}, properties) is oracle(condition, features, properties)


junk = st.one_of(
    scalars,
    st.none(),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@settings(max_examples=100, deadline=None)
@given(
    features=st.dictionaries(st.sampled_from(FEATURES), junk),
    scores=st.dictionaries(st.sampled_from(SCORES), junk),
    properties=st.dictionaries(
        st.sampled_from(["company_size", "lead_source", "email", "account_owner", "country"]), junk
    ),
)
def test_evaluate_never_raises_on_odd_inputs(
    features: dict[str, Any], scores: dict[str, Any], properties: dict[str, Any]
) -> None:
    rules = load("good.yaml")
    assert rules.evaluate(features, scores, properties) <= set(rules.ids)
