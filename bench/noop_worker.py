"""A Faust worker that only counts: the baseline ``bench.throughput`` compares segflow with.

``python -m bench.noop_worker BROKER APP_ID N OUT TOPIC...``: default Faust settings
(memory store, no web server); when N messages have arrived, it writes the monotonic
times of the first and the N-th to OUT (JSON) and exits.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import faust
import orjson


def main(argv: list[str]) -> None:
    broker, app_id, total, out, *topics = argv
    target = int(total)
    app = faust.App(app_id, broker=f"kafka://{broker}", store="memory://", web_enabled=False)
    source = app.topic(*topics, value_serializer="raw", key_serializer="raw")
    seen = {"n": 0, "first": 0.0}

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for _ in stream:
            if seen["n"] == 0:
                seen["first"] = time.monotonic()
            seen["n"] += 1
            if seen["n"] >= target:
                with open(out, "wb") as handle:
                    handle.write(orjson.dumps({"first": seen["first"], "last": time.monotonic()}))
                os._exit(0)

    worker = faust.Worker(app, loglevel="WARN", quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
