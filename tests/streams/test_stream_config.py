"""Settings (SEGFLOW_* environment, frozen, one-line errors) and the topic specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from segflow.models.errors import ConfigError
from segflow.streams.settings import Settings, child_env, load_settings, settings_env
from segflow.streams.topics import topic_specs


def test_settings_read_the_environment_with_nested_engine_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGFLOW_BROKER", "kafka://k1:9092,k2:9093")
    monkeypatch.setenv("SEGFLOW_PARTITIONS", "8")
    monkeypatch.setenv("SEGFLOW_STORE", "memory://")
    monkeypatch.setenv("SEGFLOW_TOPICS__CLICKS", "web-clicks")
    monkeypatch.setenv("SEGFLOW_ENGINE__N_SEGMENTS", "9")
    monkeypatch.setenv("SEGFLOW_ENGINE__HALF_LIFE_DAYS", "14")
    monkeypatch.setenv("SEGFLOW_ENGINE__RULES_FILE", "/etc/segflow/rules.yaml")
    settings = load_settings()
    assert settings.bootstrap_servers == "k1:9092,k2:9093"
    assert settings.partitions == 8
    assert settings.store == "memory://"
    assert settings.topics.inputs()["click"] == "web-clicks"
    assert settings.engine.n_segments == 9
    assert settings.engine.half_life_days == 14.0
    assert settings.engine.rules_file == Path("/etc/segflow/rules.yaml")


def test_command_line_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGFLOW_BROKER", "envhost:9092")
    assert load_settings(broker="cli:1234").bootstrap_servers == "cli:1234"
    assert load_settings(broker=None).bootstrap_servers == "envhost:9092"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.partitions = 2  # type: ignore[misc]


def test_defaults_suit_a_worker() -> None:
    settings = Settings()
    assert settings.store == "rocksdb://"
    assert settings.partitions == 4
    assert settings.standby_replicas == 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SEGFLOW_PARTITIONS", "many", "SEGFLOW_PARTITIONS: Input should be a valid integer"),
        ("SEGFLOW_BROKER", "no port", "SEGFLOW_BROKER: 'no port' is not host:port"),
        ("SEGFLOW_STORE", "redis://", "SEGFLOW_STORE: 'redis://' is not memory:// or rocksdb://"),
        ("SEGFLOW_ENGINE__N_SEGMENTS", "1", "SEGFLOW_ENGINE__N_SEGMENTS: Input should be greater"),
        ("SEGFLOW_TOPICS__EMAILS", "clicks", "SEGFLOW_TOPICS: topic names must be distinct"),
        ("SEGFLOW_TOPICS__EMAILS", "bad name!", "SEGFLOW_TOPICS__EMAILS: 'bad name!' is not a"),
        ("SEGFLOW_SESSION_TIMEOUT_S", "2", "SEGFLOW_HEARTBEAT_INTERVAL_S"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    if name == "SEGFLOW_SESSION_TIMEOUT_S":
        monkeypatch.setenv("SEGFLOW_HEARTBEAT_INTERVAL_S", "1")
        expected = "heartbeat_interval_s must be at most a third of session_timeout_s"
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_settings_travel_to_a_child_process_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        broker="h:1",
        partitions=3,
        data_dir=Path("/tmp/x"),
        engine={"n_segments": 5, "rules_file": "/r.yaml"},  # type: ignore[arg-type]
    )
    env = child_env(settings, base={"PATH": "/bin", "SEGFLOW_APP_ID": "stale"})
    assert env["PATH"] == "/bin"
    assert env["SEGFLOW_APP_ID"] == "segflow"
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings
    assert load_settings() == settings  # every variable is a known setting


def test_topic_specs_have_the_shapes_the_design_needs() -> None:
    settings = Settings(partitions=6)
    specs = {spec.name: spec for spec in topic_specs(settings)}
    names = settings.topics
    for topic in names.inputs().values():
        assert specs[topic].partitions == 6
    assert specs[names.events].partitions == 6
    assert specs[settings.profiles_changelog].partitions == 6
    assert specs[settings.profiles_changelog].config["cleanup.policy"] == "compact"
    assert specs[names.training].partitions == 1
    assert specs[names.snapshots].partitions == 1
    assert specs[names.snapshots].config["cleanup.policy"] == "compact"
    assert specs[names.changes].partitions == 6
    assert names.changes == "segment-changes"
    assert names.dead_letters == "segflow-dead-letters"
