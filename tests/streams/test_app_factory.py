"""The app factory builds everything from the settings and nothing at import time."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pytest
from faust.types import TP

from segflow.streams.app import create_app
from segflow.streams.faust_config import faust_options
from segflow.streams.settings import Settings


def test_create_app_wires_agents_table_and_topics_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        app_id="factory-test",
        data_dir=tmp_path,
        partitions=3,
        store="memory://",
        web_port=0,
        topics={"clicks": "web-clicks"},  # type: ignore[arg-type]
    )
    app = create_app(settings)
    assert app.conf.id == "factory-test"
    agents = {agent.name for agent in app.agents.values()}
    assert agents == {"factory-test.profiles", "factory-test.trainer"}
    profiles = next(a for a in app.agents.values() if a.name == "factory-test.profiles")
    assert set(profiles.channel.topics) == {
        "web-clicks",
        "downloads",
        "emails",
        "purchases",
        "identifies",
        "erasures",
        "segflow-events",
    }
    table = app.tables["profiles"]
    assert app.tables["identities"].changelog_topic.get_topic_name() == (
        settings.identities_changelog
    )
    assert table.partitions == 3
    assert table.changelog_topic.get_topic_name() == settings.profiles_changelog
    assert app.conf.table_standby_replicas == 0
    assert app.conf.broker_session_timeout == settings.session_timeout_s
    assert app.conf.web_enabled is False


def test_two_apps_do_not_share_state(tmp_path: Path) -> None:
    one = create_app(Settings(app_id="one", store="memory://", data_dir=tmp_path))
    two = create_app(Settings(app_id="two", store="memory://", data_dir=tmp_path))
    assert one is not two
    assert one.segflow is not two.segflow  # type: ignore[attr-defined]


def test_single_record_batches_is_a_producer_option() -> None:
    assert "producer_max_batch_size" not in faust_options(Settings())
    options = faust_options(Settings(single_record_batches=True))
    assert options["producer_max_batch_size"] == 1


def test_faust_cli_module_builds_nothing_until_asked() -> None:
    module = importlib.import_module("segflow.streams.faustapp")
    assert module._app is None
    with pytest.raises(AttributeError):
        _ = module.not_there


def test_the_worker_consumer_waits_at_most_the_configured_fetch_wait(tmp_path: Path) -> None:
    import asyncio

    async def fetch_wait() -> int:
        settings = Settings(store="memory://", web_port=0, data_dir=tmp_path, fetch_max_wait_ms=7)
        app = create_app(settings)
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(fetch_wait()) == 7


def test_the_profile_stores_keep_to_the_rocksdb_memory_budget(tmp_path: Path) -> None:
    settings = Settings(web_port=0, data_dir=tmp_path, partitions=8, rocksdb_memory_mb=128)
    options = create_app(settings).tables["profiles"].data.rocksdb_options  # type: ignore[attr-defined]
    per_partition = (
        options.block_cache_size + options.write_buffer_size * options.max_write_buffer_number
    )
    assert per_partition * settings.partitions == 128 * 1024 * 1024


def test_each_worker_sends_its_partitions_share_of_the_training_rate(tmp_path: Path) -> None:
    # The rate is the group's: a worker owning one input partition of four sends a
    # quarter of it, so four workers send the trainer what one would.
    settings = Settings(
        app_id="share-test", data_dir=tmp_path, partitions=4, store="memory://", web_port=0
    )
    app = create_app(settings)
    clicks = settings.topics.clicks
    # A worker's assignment also holds other topics' partitions (changelogs, training).
    one = {TP(clicks, 2), TP(settings.topics.downloads, 2), TP(settings.profiles_changelog, 2)}

    async def assign(assigned: set[TP]) -> float:
        await app.on_partitions_assigned.send(assigned)
        return float(app.segflow.bucket.rate)  # type: ignore[attr-defined]

    assert asyncio.run(assign(one)) == settings.training_rate / 4
    every = {TP(clicks, p) for p in range(4)}
    assert asyncio.run(assign(every)) == settings.training_rate
