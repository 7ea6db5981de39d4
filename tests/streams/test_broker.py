"""The local broker helper: starts Tansu, answers Kafka requests, leaves nothing behind."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient

from segflow.streams.broker import LocalBroker, metadata_ok, pid_alive

pytestmark = pytest.mark.kafka


def test_local_broker_answers_and_is_gone_after_stop() -> None:
    broker = LocalBroker()
    with broker:
        assert broker.running()
        pid, host, port = broker.pid, broker.host, broker.port
        assert pid is not None and port is not None
        assert broker.bootstrap == f"127.0.0.1:{port}"
        assert metadata_ok(host, port)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            assert isinstance(admin.list_topics(), list)
        finally:
            admin.close()
    assert not pid_alive(pid)
    assert not metadata_ok(host, port, timeout=0.5)
    broker.stop()  # idempotent


def test_local_broker_is_stopped_when_the_block_raises() -> None:
    broker = LocalBroker()
    pids: list[int | None] = []

    def use_and_fail() -> None:
        with broker:
            pids.append(broker.pid)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        use_and_fail()
    assert pids[0] is not None
    assert not pid_alive(pids[0])


def test_session_broker_fixture_answers(broker: LocalBroker) -> None:
    assert broker.port is not None
    assert metadata_ok(broker.host, broker.port)


def test_metadata_probe_is_false_without_a_broker() -> None:
    from segflow.streams.broker import free_port

    assert not metadata_ok("127.0.0.1", free_port(), timeout=0.5)
