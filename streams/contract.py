"""The contracts as files: a JSON Schema (draft 2020-12) per message type segflow reads
or writes, and an AsyncAPI 3 document of its topics, generated from the pydantic
models and the topic specs. ``schemas/`` at the repository root holds them (a test
fails when a model changes without its file); ``segflow schemas --output DIR`` writes
them anywhere.

What a schema cannot say, the worker still checks: an event time too far from the
ingest clock (``out_of_range``), and the identity guards.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from segflow.models.changes import SegmentChange
from segflow.models.drift import DriftEvent
from segflow.models.erasure import EraseCommand
from segflow.models.events import EVENT_TYPES
from segflow.models.membership import Membership

from .cli_common import EXIT_OK, settings_from
from .deadletters import DeadLetter
from .settings import Settings
from .topics import topic_specs
from .webhooks import WebhookDeadLetter

DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Output message type -> (model, the topic field of :class:`.setting_groups.TopicNames`).
OUTPUTS: dict[str, tuple[type[BaseModel], str]] = {
    "segment-change": (SegmentChange, "changes"),
    "membership": (Membership, "membership"),
    "dead-letter": (DeadLetter, "dead_letters"),
    "webhook-dead-letter": (WebhookDeadLetter, "webhook_dead_letters"),
    "drift": (DriftEvent, "drift"),
}


def message_models() -> dict[str, type[BaseModel]]:
    """Every message type's model by name: the input event types, ``erase``, the outputs."""
    models: dict[str, type[BaseModel]] = dict(EVENT_TYPES)
    models["erase"] = EraseCommand
    models.update({name: model for name, (model, _) in OUTPUTS.items()})
    return models


def json_schema(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema as a standalone draft 2020-12 document."""
    schema = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    return {"$schema": DRAFT, "$id": f"{name}.schema.json", "title": name, **schema}


def _message(name: str, summary: str) -> dict[str, Any]:
    return {
        "name": name,
        "contentType": "application/json",
        "summary": summary,
        "payload": {"$ref": f"./{name}.schema.json"},
    }


def asyncapi(settings: Settings) -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the topics a deployment with ``settings`` uses."""
    t = settings.topics
    inputs = {topic: kind for kind, topic in t.inputs().items()}
    outputs = {getattr(t, field): name for name, (_, field) in OUTPUTS.items()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in topic_specs(settings):
        name = inputs.get(spec.name) or outputs.get(spec.name)
        channel: dict[str, Any] = {
            "address": spec.name,
            "description": spec.purpose,
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": spec.partitions,
                    "topicConfiguration": {
                        "cleanup.policy": [spec.config.get("cleanup.policy", "delete")]
                    },
                    "bindingVersion": "0.5.0",
                }
            },
        }
        if name is not None:
            channel["messages"] = {name: _message(name, spec.purpose)}
            key = "customer id" if name not in ("drift", "dead-letter") else "see purpose"
            channel["description"] += f" (key: {key})"
        channels[spec.name] = channel
        if name is None:
            continue
        action = "send" if spec.name in inputs else "receive"
        operations[f"{action}-{spec.name}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{spec.name}"},
            "summary": ("a producer sends " if action == "send" else "a subscriber reads ") + name,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "segflow topics",
            "version": "1",
            "description": "What segflow reads and writes on Kafka.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    }


def contract_files(settings: Settings) -> dict[str, str]:
    """File name -> text of every contract file."""
    files = {
        f"{name}.schema.json": json.dumps(json_schema(name, model), indent=2, sort_keys=True)
        for name, model in message_models().items()
    }
    files["asyncapi.json"] = json.dumps(asyncapi(settings), indent=2, sort_keys=True)
    return {name: text + "\n" for name, text in files.items()}


def add_schemas_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schemas",
        help="write the JSON Schemas and the AsyncAPI document",
        description="Write a JSON Schema per message type and an AsyncAPI 3 document of "
        "the topics (their names from SEGFLOW_TOPICS__*, else the defaults) to a folder.",
    )
    parser.add_argument("--output", type=Path, default=Path("schemas"), help="folder (%(default)s)")
    parser.set_defaults(handler=cmd_schemas)


def cmd_schemas(args: argparse.Namespace) -> int:
    args.output.mkdir(parents=True, exist_ok=True)
    files = contract_files(settings_from(args))
    for name, text in files.items():
        (args.output / name).write_text(text)
    print(f"schemas: {len(files)} files in {args.output}")
    return EXIT_OK
