"""A user's own export as an event stream: JSON lines in the input contract, any order.

Each line is one event with a ``type`` field (``click``, ``download``, ``email``,
``purchase``, ``identify``); a file ending in ``.gz`` is read compressed. Invalid lines
are skipped and reported with their line number (reason ``invalid``), a repeated event
(same type, id and customer) is skipped as ``duplicate``, and the valid events come out
in event-time order (ties in file order) within bounded memory: sorted runs of
``run_events`` lines are spilled to temporary files and merged.

>>> import pathlib, tempfile
>>> lines = ['{"type": "click", "event_id": "b", "customer_id": "c1", '
...          '"occurred_at": "2026-01-02T00:00:00Z", "url": "/"}',
...          '{"type": "click", "event_id": "a", "customer_id": "c1", '
...          '"occurred_at": "2026-01-01T00:00:00Z", "url": "/"}',
...          '{"type": "click", "event_id": "a", "customer_id": "c1", '
...          '"occurred_at": "2026-01-01T00:00:00Z", "url": "/"}', '{"type": "pageview"}']
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "export.jsonl"
...     _ = path.write_text("\\n".join(lines) + "\\n")
...     stream = export_stream(path, run_events=1)
...     ids = [event.event_id for event in stream]
>>> ids, dict(stream.report.skipped), str(stream.report.problems[0])
(['a', 'b'], {'duplicate': 1, 'invalid': 1}, "line 4: type: 'pageview' is none of ...")
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import orjson

from segflow.models.erasure import EraseCommand, decode_erase
from segflow.models.errors import InvalidEventError
from segflow.models.events import EVENT_TYPES, Event, decode_event

from .reading import DatasetStream, SkipReport

#: The types a line may have (``erase`` is a command: checked, never replayed).
LINE_TYPES = (*EVENT_TYPES, "erase")
#: Lines sorted in memory before a run is spilled to disk.
RUN_EVENTS = 200_000


def decode_line(line: bytes, default_type: str | None = None) -> Event | EraseCommand:
    """The event (or erase command) of one JSON line, by its ``type`` field (else
    ``default_type``); :class:`InvalidEventError` with a one-line message."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise InvalidEventError(f"not JSON: {error}", reason="not_json") from None
    if not isinstance(document, dict):
        raise InvalidEventError("not a JSON object", reason="not_object")
    kind = document.get("type", default_type)
    if kind not in LINE_TYPES:
        known = ", ".join(LINE_TYPES)
        message = f"type: {kind!r} is none of {known}" if kind else "type: missing"
        raise InvalidEventError(message, reason="unknown_type", field="type")
    if kind == "erase":
        return decode_erase(line)
    return decode_event(str(kind), document)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


class ExportStream(DatasetStream):
    """A JSON-lines export as a :class:`DatasetStream` (see the module docstring)."""

    def __init__(self, path: Path, limit: int | None, run_events: int) -> None:
        super().__init__("export", path, (), self._events)
        self.limit, self.run_events = limit, run_events

    def check(self) -> None:
        """Raise ``ValueError`` (one line) unless the first line is a JSON object."""
        try:
            with _open(self.path) as f:
                first = next((line for line in f if line.strip()), b"{}")
        except (OSError, EOFError) as error:
            raise ValueError(f"{self.path}: cannot read: {error}") from None
        if not first.lstrip().startswith(b"{"):
            raise ValueError(f"{self.path}: not JSON lines (the first line is no object)")

    def _events(self, report: SkipReport) -> Iterator[Event]:
        with tempfile.TemporaryDirectory(prefix="segflow-export-") as folder:
            runs = self._spill(report, Path(folder))
            for _, _, line in heapq.merge(*(self._read_run(run) for run in runs)):
                event = decode_line(line)
                assert not isinstance(event, EraseCommand)
                yield event

    def _spill(self, report: SkipReport, folder: Path) -> list[Path]:
        """Read every line; write the valid events in sorted runs; the run files."""
        seen: set[bytes] = set()
        runs: list[Path] = []
        chunk: list[tuple[float, int, bytes]] = []
        with _open(self.path) as f:
            for number, line in enumerate(f, start=1):
                if self.limit is not None and report.rows >= self.limit:
                    break
                if not line.strip():
                    continue
                report.rows += 1
                try:
                    event = decode_line(line)
                except InvalidEventError as error:
                    report.malformed(number, "invalid", str(error))
                    continue
                if isinstance(event, EraseCommand):
                    report.skip("erase_command")
                    continue
                key = f"{event.kind}\x1f{event.event_id}\x1f{event.profile_key}"
                digest = hashlib.blake2b(key.encode(), digest_size=10).digest()
                if digest in seen:
                    report.skip("duplicate")
                    continue
                seen.add(digest)
                chunk.append((event.occurred_at.timestamp(), number, line.strip()))
                if len(chunk) >= self.run_events:
                    runs.append(self._write_run(chunk, folder, len(runs)))
        if chunk:
            runs.append(self._write_run(chunk, folder, len(runs)))
        return runs

    @staticmethod
    def _write_run(chunk: list[tuple[float, int, bytes]], folder: Path, n: int) -> Path:
        chunk.sort()
        path = folder / f"run-{n:05d}"
        with path.open("wb") as out:
            for t, number, line in chunk:
                out.write(b"%r\t%d\t%s\n" % (t, number, line))
        chunk.clear()
        return path

    @staticmethod
    def _read_run(path: Path) -> Iterator[tuple[float, int, bytes]]:
        with path.open("rb") as f:
            for row in f:
                t, number, line = row.rstrip(b"\n").split(b"\t", 2)
                yield float(t), int(number), line


def export_stream(
    path: str | Path, *, limit: int | None = None, run_events: int | None = None
) -> ExportStream:
    """The events of a JSON-lines export in event-time order (see the module docstring);
    ``run_events`` lines per sorted run (default :data:`RUN_EVENTS`)."""
    return ExportStream(Path(path), limit, run_events or RUN_EVENTS)
