"""Throughput: a do-nothing Faust agent against one and two segflow workers, in one run.

``python -m bench.throughput [--events N] [--broker HOST:PORT]`` pre-produces N simulator
events (default 200k, about 200-byte JSON each) into 4-partition input topics (a local
Tansu broker unless ``--broker``), then drains them with (a) a Faust agent that only
counts, default settings, (b) one segflow worker, (c) two segflow workers, each in its
own consumer group, and prints one JSON object::

    {"events": N, "faust_noop_eps": .., "segflow_eps": .., "segflow_2w_eps": ..,
     "segflow_4w_eps": .., "segflow_eps_live": .., "ratio": segflow_eps / faust_noop_eps,
     "cpu_us_per_event": {"1": .., "2": .., "4": ..}, "cpu_ratio_to_one_worker": {..},
     "cpu_us_per_event_rounds": {..}, "cpu_ratio_rounds": {..},
     "changelog_writes_per_event": .., "changelog_writes_per_event_written_per_batch": ..,
     "segflow_eps_written_per_batch": .., "forwarded_per_event": {..}, "profile_top": [..]}

Rates count from the first event a consumer sees to the last, so group joins are left
out. ``segflow_eps`` (and ``ratio``) is measured as the no-op agent's rate is: one
worker drains N events produced before it started, with no producer and no profiler
beside it on the two cores. The other runs get input topics of their own, their workers
join the group on them empty, and once they share the partitions the same N events are
produced into them as fast as possible (otherwise a second worker joining while the
first drains the backlog times a rebalance and the first worker's head start, and the
partitions it leaves behind are drained alone): ``segflow_eps_live`` is one worker's
rate so, with the producer (and py-spy) sharing the cores. ``profile_top`` is the top
of a py-spy profile of that worker (own-time share by function), when py-spy is
installed. Two cores cannot show two workers beating one while the broker, the producer
and the workers share them, so scaling is measured by what it depends on: the CPU
seconds all worker processes spent per event (from /proc) with 1, 2 and 4 workers
(``--workers``), over ``--rounds`` rounds (default 3) that each run one worker and then
every group back to back, with no profiler (``cpu_us_per_event``: each size's median;
``cpu_ratio_to_one_worker``: the median of the rounds' ratios; both per round in
``cpu_us_per_event_rounds`` and ``cpu_ratio_rounds``), counted from the moment the
workers share the partitions until each has written the profiles the events changed,
with each worker's stats read every half second; the profile writes (changelog
messages) and forwarded messages per event; and one worker writing its profiles once per
batch instead of once per commit, for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from segflow.sources.simulator import SimulationConfig, iter_events
from segflow.streams.demo import assigned, fetch_stats
from segflow.streams.settings import Settings
from segflow.streams.topics import create_topics

from .common import (
    PY_SPY,
    ROOT,
    WAIT_S,
    bootstrap,
    cpu_seconds,
    own_time_top,
    poll_processed,
    produce_bulk,
    settings_for,
    start_py_spy,
    start_worker,
    stop_py_spy,
    wait_until,
)

#: How often the CPU runs read each worker's stats (a read costs a worker about 1 ms).
CPU_POLL_S = 0.5
#: How long after the last profile write its changelog sends are left to finish.
WRITTEN_SENDS_S = 0.5


def preproduce(settings: Settings, n: int) -> None:
    config = SimulationConfig(customers=max(1_000, n // 40), days=60.0, seed=7)
    produce_bulk(settings, islice(iter_events(config), n))


def run_noop(settings: Settings, n: int, workdir: Path) -> float:
    out = workdir / f"noop-{uuid.uuid4().hex[:6]}.json"
    topics = list(settings.topics.inputs().values())
    log = (workdir / "noop.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.noop_worker",
            settings.bootstrap_servers,
            f"noop-{uuid.uuid4().hex[:6]}",
            str(n),
            str(out),
            *topics,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not out.exists():
            tail = (workdir / "noop.log").read_text(errors="replace")[-600:]
            raise RuntimeError(f"the no-op worker did not finish (exit {proc.poll()}): {tail}")
        times = orjson.loads(out.read_bytes())
        return n / max(float(times["last"]) - float(times["first"]), 1e-9)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        log.close()


def written(ports: list[int]) -> bool:
    """Whether every worker has written its changed profiles (the next commit did)."""
    stats = [fetch_stats(port, timeout=10.0) for port in ports]
    return all(s is not None and s.get("unwritten_profiles") == 0 for s in stats)


def run_segflow(
    broker: str,
    n: int,
    workers: int,
    workdir: Path,
    profile: bool = False,
    write_behind: bool = True,
    backlog: bool = False,
    poll_every: float = 0.1,
) -> dict[str, Any]:
    """Events/s of ``workers`` segflow workers in one consumer group; the CPU they spent
    per event (summed over the worker processes, from the moment they share the
    partitions until every event is processed and the next commit wrote the profiles),
    their profile writes (changelog messages) and forwarded messages per event, and
    the top of a py-spy profile of the first worker (``profile``).

    The workers get input topics of their own and join the group on them empty; once
    they share the partitions, the ``n`` events are produced as fast as possible. A
    worker joining while another drains a backlog would time a rebalance, the changelog
    recovery of the partitions it takes and the first worker's head start instead.
    With ``backlog`` the events are produced before the workers start, as for the
    no-op agent: the producer then does not share the cores while they drain.

    The CPU is counted until every worker has written the profiles the events changed
    (``unwritten_profiles`` 0 in its stats, then half a second for the sends), not
    over a fixed wait: an idle worker's CPU (about 2 % of a core) is not the events'.
    ``poll_every`` is how often each worker's stats are read; each read costs a worker
    about a millisecond of CPU, so the CPU runs read them every half second.
    """
    tag = uuid.uuid4().hex[:6]
    settings = settings_for(broker, workdir, tag).model_copy(
        update={"app_id": f"b{tag}-{workers}w", "write_behind": write_behind}
    )
    create_topics(settings)
    if backlog:
        preproduce(settings, n)
    started = [start_worker(settings, workdir, f"{tag}-{i}") for i in range(workers)]
    procs = [worker for worker, _ in started]
    ports = [port for _, port in started]
    spy = None

    def on_first() -> None:
        nonlocal spy
        if profile and PY_SPY and procs[0].proc is not None:
            spy = start_py_spy(procs[0].proc.pid, workdir / "profile.txt")

    def shared() -> bool:
        owned = [assigned(fetch_stats(port), settings.topics.clicks) for port in ports]
        return (
            all(owned)
            and sum(len(o) for o in owned) == settings.partitions
            and len(set().union(*owned)) == settings.partitions
        )

    try:
        wait_until(shared, procs, f"{workers} worker(s) sharing the partitions")
        pids = [worker.proc.pid for worker in procs if worker.proc is not None]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        with ThreadPoolExecutor(1) as producer:
            # Polled while produced: workers that keep up with the producer have
            # processed nearly everything by the time a blocking produce returns.
            producing = None if backlog else producer.submit(preproduce, settings, n)
            trace = poll_processed(ports, n, procs, on_first, every=poll_every)
            if producing is not None:
                producing.result()
        top = own_time_top(stop_py_spy(spy, workdir / "profile.txt")) if spy else []
        wait_until(lambda: written(ports), procs, "the profiles written", every=poll_every)
        time.sleep(WRITTEN_SENDS_S)
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        stats = [(fetch_stats(port, timeout=10.0) or {}).get("counts", {}) for port in ports]
        return {
            # From the first poll that saw events (its count, not 0: a busy worker's
            # stats may answer late, when thousands are done already) to the last.
            "eps": (trace[-1][1] - trace[0][1]) / max(trace[-1][0] - trace[0][0], 1e-9),
            "cpu_us_per_event": round(cpu / n * 1e6, 1),
            "changelog_writes_per_event": round(
                sum(s.get("profile_writes", 0) for s in stats) / n, 3
            ),
            "forwarded_per_event": round(sum(s.get("forwarded", 0) for s in stats) / n, 3),
            "top": top,
        }
    finally:
        for worker in procs:
            worker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--broker", default=None, help="HOST:PORT (default: a local Tansu)")
    parser.add_argument(
        "--workers", type=int, nargs="*", default=[2, 4], help="group sizes beside one worker"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the CPU comparison (one worker, then each group size, per round)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    with (
        tempfile.TemporaryDirectory(prefix="segflow-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        broker = bootstrap(stack, args.broker)
        settings = settings_for(broker, workdir, uuid.uuid4().hex[:6])
        create_topics(settings)
        preproduce(settings, args.events)
        noop = run_noop(settings, args.events, workdir)
        # Like the no-op agent: a backlog drained, no producer and no profiler beside it.
        drained = run_segflow(broker, args.events, 1, workdir, backlog=True)
        # Like the groups below: events produced once the worker holds its partitions.
        one = run_segflow(broker, args.events, 1, workdir, profile=True)
        groups = [w for w in dict.fromkeys(args.workers) if w != 1]
        # CPU per event moves by a third between runs here (the machine's load); each
        # round measures one worker and every group back to back, unprofiled.
        rounds = [
            {
                w: run_segflow(broker, args.events, w, workdir, poll_every=CPU_POLL_S)
                for w in [1, *groups]
            }
            for _ in range(args.rounds)
        ]
        runs = {w: rounds[-1][w] for w in groups}
        per_batch = run_segflow(broker, args.events, 1, workdir, write_behind=False)
    cpu_rounds = {str(w): [r[w]["cpu_us_per_event"] for r in rounds] for w in [1, *groups]}
    ratio_rounds = {
        str(w): [round(r[w]["cpu_us_per_event"] / r[1]["cpu_us_per_event"], 3) for r in rounds]
        for w in [1, *groups]
    }
    cpu = {w: round(statistics.median(v), 1) for w, v in cpu_rounds.items()}
    print(
        json.dumps(
            {
                "events": args.events,
                "faust_noop_eps": round(noop),
                "segflow_eps": round(drained["eps"]),
                "segflow_eps_live": round(one["eps"]),
                **{f"segflow_{w}w_eps": round(run["eps"]) for w, run in runs.items()},
                "ratio": round(drained["eps"] / noop, 3),
                "cpu_us_per_event": cpu,
                "cpu_ratio_to_one_worker": {
                    w: round(statistics.median(v), 3) for w, v in ratio_rounds.items()
                },
                "cpu_us_per_event_rounds": cpu_rounds,
                "cpu_ratio_rounds": ratio_rounds,
                "changelog_writes_per_event": one["changelog_writes_per_event"],
                "changelog_writes_per_event_written_per_batch": per_batch[
                    "changelog_writes_per_event"
                ],
                "segflow_eps_written_per_batch": round(per_batch["eps"]),
                "forwarded_per_event": {
                    str(w): run["forwarded_per_event"] for w, run in runs.items()
                },
                "profile_top": one["top"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
