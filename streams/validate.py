"""``segflow validate FILE``: check a JSON-lines sample against the input contract.

Each line is one event object with a ``type`` field (``click``, ``download``,
``email``, ``purchase``, ``identify``, ``erase``) or the type given by ``--type``. Each
invalid line is printed as ``FILE:LINE: <one-line error>``; a summary follows; the exit
code is 1 when any line is invalid (what a producer team runs in its own CI). A file
ending in ``.gz`` is read compressed. The time bounds a worker applies against its
clock (``out_of_range``) are not checked: they depend on when the event arrives.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segflow.models.errors import InvalidEventError
from segflow.sources.export import LINE_TYPES, decode_line

from .cli_common import EXIT_OK
from .errors import CommandError

#: Exit code when a line is invalid.
EXIT_INVALID = 1
TYPES = LINE_TYPES
#: Invalid lines printed (all are counted).
SHOWN = 100


def lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line; ``.gz`` files decompressed."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    yield number, line
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None


def check_line(line: bytes, default_type: str | None) -> str | None:
    """The one-line error of an invalid line, or None when it is valid."""
    try:
        decode_line(line, default_type)
    except InvalidEventError as error:
        return str(error)
    return None


def add_validate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a JSON-lines file of events against the input contract",
        description="Check each line (an event with a `type` field, or --type) against the "
        "input contract; print the invalid ones and a summary; exit 1 if any is invalid.",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="JSON lines (.jsonl, .jsonl.gz)")
    parser.add_argument("--type", choices=TYPES, help="the type of lines without a type field")
    parser.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    total = invalid = 0
    for number, line in lines(args.file):
        total += 1
        error = check_line(line, args.type)
        if error is not None:
            invalid += 1
            if invalid <= SHOWN:
                print(f"{args.file}:{number}: {error}")
    if invalid > SHOWN:
        print(f"... and {invalid - SHOWN} more invalid lines")
    print(f"{total} lines: {total - invalid} valid, {invalid} invalid", file=sys.stderr)
    return EXIT_INVALID if invalid else EXIT_OK
