"""``segflow demo --duration 20``: prints segments and changes, exits 0, leaves nothing running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafkatest import processes_with_marker

pytestmark = pytest.mark.kafka

SEGFLOW = str(Path(sys.executable).with_name("segflow"))


def test_demo_runs_for_its_duration_and_cleans_up(tmp_path: Path) -> None:
    marker = f"SEGFLOWTEST_MARKER_{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGFLOW_")}
    env[marker] = "1"  # inherited by every process the demo starts
    done = subprocess.run(
        [SEGFLOW, "demo", "--duration", "20"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    final = done.stdout.split("segflow demo: final state", 1)[1]
    # Segment sizes with readable names ...
    segments = re.findall(r"^  (seg-\d+) +(\S.*?) +(\d[\d,]*)  #*$", final, flags=re.M)
    assert segments, final
    assert all(name.strip() for _, name, _ in segments)
    assert sum(int(n.replace(",", "")) for *_, n in segments) > 0
    # ... and the latest changes.
    latest = final.split("latest changes", 1)[1]
    assert re.search(r"^  c\d+ .* -> .*\((behavioral|rule)\)", latest, flags=re.M), final
    events = re.search(r"processed ([\d,]+)", final)
    assert events and int(events.group(1).replace(",", "")) > 0
    # Nothing it started is left running: broker, worker.
    assert processes_with_marker(marker) == []
    assert list(tmp_path.iterdir()) == []  # no state left in the working directory
