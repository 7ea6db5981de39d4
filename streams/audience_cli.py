"""``segflow export`` and ``segflow tail --segment ID --from-start``: one segment's
audience from ``segment-membership`` (then, for ``tail``, its changes)."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from segflow.models.changes import SegmentChange
from segflow.models.membership import Audience, Membership

from .audience import follow_changes, read_membership
from .cli_common import add_broker, require_broker, settings_from
from .errors import CommandError
from .settings import Settings

#: Seconds without a change after which an export counts itself caught up.
CATCH_UP_S = 1.0


def add_export_parser(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="write a segment's current members to a file",
        description="Write the current members of one segment (behavioral or rule id), read "
        "from segment-membership, to a CSV or JSON-lines file (for an ad platform upload).",
    )
    add_broker(export)
    export.add_argument("--segment", required=True, help="segment id (behavioral or rule)")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.add_argument("--no-progress", action="store_true", help="no progress bar")
    export.set_defaults(handler=cmd_export)


class Latest:
    """The latest membership record per customer (what an exported row shows)."""

    def __init__(self) -> None:
        self.records: dict[str, Membership | None] = {}

    def __call__(self, customer: str, record: Membership | None) -> None:
        self.records[customer] = record

    def since(self, customer: str, segment: str) -> str:
        """When ``customer`` entered ``segment`` (ISO time; "" when only a change says)."""
        record = self.records.get(customer)
        if record is None:
            return ""
        if record.segment is not None and record.segment.id == segment:
            return record.segment.since.isoformat()
        rules = {rule.id: rule.since for rule in record.rule_segments}
        return rules[segment].isoformat() if segment in rules else ""


def progress_bar(label: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        print(f"\r{label} [{bar:<30}] {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    return show


def current_members(settings: Settings, show: bool) -> tuple[Audience, Latest]:
    """Everyone's memberships, caught up with the changes since the membership read."""
    latest = Latest()
    progress = progress_bar("reading segment-membership") if show else None
    audience, start = read_membership(settings, latest, progress)
    if show:
        print(file=sys.stderr)
    for change in follow_changes(settings, start, idle_s=CATCH_UP_S):
        audience.apply_change(change)
    return audience, latest


def rows(audience: Audience, latest: Latest, segment: str) -> Iterator[dict[str, str]]:
    for customer in audience.members(segment):
        yield {
            "customer_id": customer,
            "segment_id": segment,
            "since": latest.since(customer, segment),
        }


def write_rows(out: IO[str], found: Iterator[dict[str, str]], fmt: str) -> int:
    written = 0
    writer = csv.DictWriter(out, fieldnames=["customer_id", "segment_id", "since"])
    if fmt == "csv":
        writer.writeheader()
    for row in found:
        if fmt == "csv":
            writer.writerow(row)
        else:
            out.write(orjson.dumps(row).decode() + "\n")
        written += 1
    return written


def cmd_export(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    require_broker(settings)
    show = not args.no_progress and sys.stderr.isatty()
    audience, latest = current_members(settings, show)
    found = rows(audience, latest, args.segment)
    if args.output is None:
        written = write_rows(sys.stdout, found, args.format)
    else:
        try:
            with args.output.open("w", newline="") as out:
                written = write_rows(out, found, args.format)
        except OSError as error:
            raise CommandError(f"cannot write {args.output}: {error.strerror}") from None
    where = args.output or "standard output"
    print(f"export {args.segment}: {written} members to {where}", file=sys.stderr)
    return 0


def from_start(
    settings: Settings,
    segment: str,
    as_json: bool,
    idle_timeout: float | None,
    on_invalid: Callable[[bytes], None],
) -> Iterator[SegmentChange]:
    """``tail --segment ID --from-start``: print the segment's current members, then
    yield every change from then on."""
    lines, start = snapshot_lines(settings, segment, as_json)
    for line in lines:
        print(line, flush=True)
    return follow_changes(settings, start, idle_timeout, on_invalid=on_invalid)


def snapshot_lines(settings: Settings, segment: str, as_json: bool) -> tuple[list[str], Any]:
    """A line per current member of ``segment`` (its membership record as JSON, or
    readable), and where the changes resume."""
    latest = Latest()
    audience, start = read_membership(settings, latest)
    lines = []
    for customer in audience.members(segment):
        record = latest.records.get(customer)
        if as_json and record is not None:
            lines.append(orjson.dumps({"membership": record.model_dump(mode="json")}).decode())
        else:
            since = latest.since(customer, segment) or "?"
            lines.append(f"member  {customer}  in {segment} since {since}")
    return lines, start
