"""The contract files: current with the models, valid, and in agreement with the
decoders on real and on mutated documents; ``segflow validate`` on a sample."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator

from segflow.models.errors import InvalidEventError
from segflow.models.events import decode_event, encode_event
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.cli import main
from segflow.streams.contract import OUTPUTS, contract_files, message_models
from segflow.streams.deadletters import dead_letter
from segflow.streams.settings import Settings
from segflow.streams.topics import topic_specs

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_files_are_current_with_the_models() -> None:
    files = contract_files(Settings())
    assert sorted(p.name for p in SCHEMAS.iterdir()) == sorted(files), "run: segflow schemas"
    for name, text in files.items():
        assert (SCHEMAS / name).read_text() == text, f"{name} is stale: run segflow schemas"


@pytest.mark.parametrize("name", sorted(message_models()))
def test_every_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_simulator_events_validate_against_their_schemas() -> None:
    sim = simulate(SimulationConfig(customers=60, days=14.0, drift_fraction=0.0, seed=2,
                                    anonymous_share=0.5))  # fmt: skip
    events = sim.events[:1000]
    assert len(events) == 1000 and {e.kind for e in events} >= {"click", "email", "identify"}
    for event in events:
        errors = list(validator(event.kind).iter_errors(orjson.loads(encode_event(event))))
        assert not errors, (event, errors[0].message)


def test_the_readme_output_examples_validate() -> None:
    readme = (ROOT / "README.md").read_text()
    contract = readme.split("## Output contract", 1)[1].split("\n## ", 1)[0]
    examples = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", contract, flags=re.S)]
    by_kind = {"segment-change": "kind", "membership": "rule_segments"}
    for name, marker in by_kind.items():
        found = [e for e in examples if marker in e]
        assert found, name
        for example in found:
            assert not list(validator(name).iter_errors(example)), (name, example)


def test_dead_letters_validate() -> None:
    for raw in (b"\xff{", b"{}", None):
        record = dead_letter(source_topic="clicks", partition=0, offset=3, key=b"c1", raw=raw,
                             error="bad", reason="schema", received_at=0.0)  # fmt: skip
        assert not list(validator("dead-letter").iter_errors(record)), record


VALID_CLICK: dict[str, Any] = {
    "event_id": "e1",
    "customer_id": "c1",
    "occurred_at": "2026-11-22T10:15:00Z",
    "url": "/pricing",
    "properties": {"plan": "pro", "seats": 3},
}
#: Values a mutation puts in a field: wrong types, empty and over-long ids, bad prefixes.
VALUES = st.sampled_from(
    [None, 0, 1.5, True, "", "x" * 129, "~anon:c1", [], {}, "not a time", "c2", "/x"]
)


@settings(max_examples=300, deadline=None)
@given(
    drop=st.lists(st.sampled_from(sorted(VALID_CLICK)), max_size=2),
    change=st.dictionaries(st.sampled_from([*VALID_CLICK, "anonymous_id"]), VALUES, max_size=2),
)
def test_schema_and_decoder_agree_on_mutated_events(
    drop: list[str], change: dict[str, Any]
) -> None:
    document = copy.deepcopy(VALID_CLICK)
    for field in drop:
        document.pop(field, None)
    document.update(change)
    schema_ok = validator("click").is_valid(document)
    try:
        decode_event("click", document)
        decoder_ok = True
    except InvalidEventError:
        decoder_ok = False
    assert schema_ok == decoder_ok, document


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    official = json.loads((ROOT / "tests" / "contracts" / "asyncapi-3.0.0.schema.json").read_text())
    document = json.loads((SCHEMAS / "asyncapi.json").read_text())
    errors = [e.message for e in Draft7Validator(official).iter_errors(document)]
    assert errors == []
    broken = copy.deepcopy(document)
    next(iter(broken["operations"].values()))["action"] = "publish"  # AsyncAPI 2's word
    assert not Draft7Validator(official).is_valid(broken)


def test_the_asyncapi_document_covers_every_topic() -> None:
    document = json.loads((SCHEMAS / "asyncapi.json").read_text())
    assert document["asyncapi"] == "3.0.0"
    specs = topic_specs(Settings())
    assert sorted(document["channels"]) == sorted(spec.name for spec in specs)
    for channel in document["channels"].values():
        assert channel["bindings"]["kafka"]["partitions"] >= 1
        for message in channel.get("messages", {}).values():
            assert (SCHEMAS / message["payload"]["$ref"].removeprefix("./")).exists()
    for operation in document["operations"].values():
        assert operation["channel"]["$ref"].removeprefix("#/channels/") in document["channels"]
    compacted = {n for n, c in document["channels"].items()
                 if c["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"]
                 == ["compact"]}  # fmt: skip
    assert Settings().topics.membership in compacted
    outputs = {getattr(Settings().topics, field) for _, field in OUTPUTS.values()}
    assert outputs <= {o["channel"]["$ref"].split("/")[-1] for o in document["operations"].values()}


def test_validate_prints_each_invalid_line_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "sample.jsonl"
    good = {**VALID_CLICK, "type": "click"}
    sample.write_text(
        "\n".join([json.dumps(good), json.dumps({**good, "occurred_at": "2026-11-22T10:15:00"}),
                   "{not json", json.dumps({**good, "type": "pageview"}),
                   json.dumps({"command_id": "k", "customer_id": "c1",
                               "occurred_at": "2026-12-01T00:00:00Z", "type": "erase"})])
        + "\n"
    )  # fmt: skip
    assert main(["validate", str(sample)]) == 1
    out = capsys.readouterr()
    printed = out.out.splitlines()
    assert printed[0] == f"{sample}:2: occurred_at: Input should have timezone info"
    assert printed[1].startswith(f"{sample}:3: not JSON: ")
    assert printed[2:] == [
        f"{sample}:4: type: 'pageview' is none of click, download, email, purchase, identify, "
        "erase",
    ]
    assert "5 lines: 2 valid, 3 invalid" in out.err
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps(VALID_CLICK) + "\n")
    assert main(["validate", "--type", "click", str(clean)]) == 0
