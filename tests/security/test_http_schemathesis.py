"""Schemathesis against a live worker, from ``streams/static/openapi.json``.

``st run`` (every phase: the document's examples, coverage of boundary and invalid
values, fuzzing; every check: no 500, status codes, content types and bodies as
documented, methods not allowed answered 405 with ``Allow``, and a request without
the token refused) against one worker with a token, holding a few customers. The
examples are limited to keep the run short (about 20 s with the worker's start).
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafkatest import WorkerProc, isolated_settings, prepare, send_events, wait_until

from segflow.models.events import ClickEvent
from segflow.streams.broker import LocalBroker
from segflow.streams.views import openapi_document

TOKEN = "schemathesis-token-0123456789abcdef"
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "streams" / "static" / "openapi.json"
SCHEMATHESIS = Path(sys.executable).parent / "st"
MAX_EXAMPLES = 150
#: Customers the worker holds (the document's example id among them).
CUSTOMERS = ["c01725", *(f"st-{c}" for c in range(4))]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def base_url(broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One healthy worker with a token, holding :data:`CUSTOMERS`."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    settings = isolated_settings(broker, tmp, web_token=TOKEN)
    prepare(settings)
    worker = WorkerProc(settings, tmp / "worker.log").start()
    url = f"http://127.0.0.1:{worker.port}"
    try:
        assert wait_until(lambda: healthy(url)), worker.log_tail()
        start = datetime(2026, 3, 2, tzinfo=UTC)
        events = [
            ClickEvent(event_id=f"{cid}-1", customer_id=cid, url="https://x/pricing",
                       occurred_at=start + timedelta(minutes=n), properties={"n": n})
            for n, cid in enumerate(CUSTOMERS)
        ]  # fmt: skip
        send_events(settings, events)

        def held() -> bool:
            stats = worker.stats() or {}
            return bool(stats.get("counts", {}).get("events_applied", 0) == len(events))

        assert wait_until(held), worker.log_tail()
        yield url
    finally:
        worker.stop()


@pytest.mark.kafka
def test_schemathesis_finds_no_server_error_and_no_divergence_from_the_document(
    base_url: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            str(OPENAPI_FILE),
            "--url",
            base_url,
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20261203",
            "--request-timeout",
            "10",
            "--no-color",
        ],
        cwd=tmp_path,  # no schemathesis.toml of the caller's
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12_000:]
    routes = len(openapi_document()["paths"])
    assert f"{routes} selected / {routes} total" in output, output[-3000:]
    assert "Missing test data" not in output, output[-3000:]  # the example customer is held
