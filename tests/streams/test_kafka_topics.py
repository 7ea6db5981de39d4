"""Topic creation against the broker, and the faust CLI module's lazy app."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafkatest import isolated_settings

from segflow.streams.broker import LocalBroker
from segflow.streams.settings import settings_env
from segflow.streams.topics import check_copartitioned, create_topics, topic_specs

pytestmark = pytest.mark.kafka


def test_create_topics_is_idempotent_and_uses_the_specs(
    broker: LocalBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker, tmp_path, partitions=3)
    first = create_topics(settings)
    assert all(status.created for status in first)
    second = create_topics(settings)
    assert not any(status.created for status in second)
    assert all(status.problem is None for status in second)
    assert check_copartitioned(second, settings) is None
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
    finally:
        admin.close()
    for spec in topic_specs(settings):
        assert described[spec.name] == spec.partitions


def test_a_topic_with_the_wrong_partition_count_is_reported(
    broker: LocalBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker, tmp_path, partitions=2)
    create_topics(settings)
    more = settings.model_copy(update={"partitions": 5})
    statuses = create_topics(more)
    problems = {s.spec.name: s.problem for s in statuses if s.problem}
    assert problems[settings.topics.events] == "has 2 partitions, segflow expects 5"
    # Both disagree with the spec but still agree with each other: workable.
    assert check_copartitioned(statuses, more) is None


def test_faust_cli_module_builds_the_app_through_the_factory(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated_settings(broker, tmp_path)
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    module = importlib.import_module("segflow.streams.faustapp")
    monkeypatch.setattr(module, "_app", None)
    app = module.app
    assert app.conf.id == settings.app_id
    assert module.app is app  # built once
    assert {a.name for a in app.agents.values()} >= {f"{settings.app_id}.profiles"}
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        assert settings.topics.training in admin.list_topics()  # topics created on the way
    finally:
        admin.close()
