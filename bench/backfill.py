"""Backfill from a user's export: a shuffled JSON-lines file replays like the ordered one.

The simulator's world (``--customers``, 56 days; 12,000 customers make about 1M events)
is written as a JSON-lines export twice: in event-time order, and shuffled and
gzipped. ``segflow replay FILE --offline`` runs on each in its own process; this prints,
as JSON, the events, each run's seconds and peak RSS (MiB, measured inside the child),
and whether the two runs wrote the same segment changes (``emitted_at``, the wall
clock, left out). Floors (issue "Contracts ... backfill"): peak RSS under 1 GB, the
same changes.

``python -m bench.backfill [--customers N] [--seed S]``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from segflow.models.events import encode_event
from segflow.sources.simulator import SimulationConfig, iter_events


def write_exports(folder: Path, customers: int, seed: int) -> tuple[Path, Path, int]:
    """The ordered and the shuffled (gzipped) export; the number of events."""
    config = SimulationConfig(customers=customers, days=56.0, seed=seed)
    lines = [
        orjson.dumps({"type": e.kind, **orjson.loads(encode_event(e))}) for e in iter_events(config)
    ]
    ordered = folder / "ordered.jsonl"
    ordered.write_bytes(b"\n".join(lines) + b"\n")
    random.Random(seed).shuffle(lines)
    shuffled = folder / "shuffled.jsonl.gz"
    with gzip.open(shuffled, "wb", compresslevel=3) as out:
        out.write(b"\n".join(lines) + b"\n")
    return ordered, shuffled, len(lines)


#: Runs ``segflow replay`` in this process and reports its own peak RSS (KiB) last:
#: ``VmHWM`` of its memory map (``ru_maxrss`` would keep the forked parent's, across
#: the exec).
_CHILD = (
    "import sys\n"
    "from segflow.streams.cli import main\n"
    "code = main(['replay', sys.argv[1], '--offline', '--output', sys.argv[2]])\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
    "print(hwm.split()[1], file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def replay_child(export: Path, output: Path) -> dict[str, Any]:
    """``segflow replay EXPORT --offline`` in a child process: seconds and its own peak
    RSS (measured inside it, see :data:`_CHILD`)."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-c", _CHILD, str(export), str(output)]
    done = subprocess.run(
        command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return {
        "seconds": round(time.monotonic() - started, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }


def digest(changes: Path) -> tuple[int, str]:
    """How many changes and a hash of them without ``emitted_at``."""
    h, n = hashlib.sha256(), 0
    with changes.open("rb") as f:
        for line in f:
            change = orjson.loads(line)
            change.pop("emitted_at", None)
            h.update(orjson.dumps(change, option=orjson.OPT_SORT_KEYS))
            n += 1
    return n, h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    parser.add_argument("--customers", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as folder:
        root = Path(folder)
        ordered, shuffled, events = write_exports(root, args.customers, args.seed)
        shuffled_run = replay_child(shuffled, root / "shuffled.changes")
        ordered_run = replay_child(ordered, root / "ordered.changes")
        same = digest(root / "shuffled.changes") == digest(root / "ordered.changes")
        print(json.dumps({
            "customers": args.customers, "events": events,
            "shuffled_gz_mb": round(shuffled.stat().st_size / 2**20, 1),
            "shuffled": shuffled_run, "ordered": ordered_run,
            "changes": digest(root / "ordered.changes")[0], "same_changes": same,
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
