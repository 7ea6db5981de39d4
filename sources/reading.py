"""Reading a dataset's gzip CSV: the event stream, its report, rows and field parsers.

Shared by the adapters (:mod:`segflow.sources.online_retail`, :mod:`~.cdnow`,
:mod:`~.hillstrom`, :mod:`~.taobao`). An adapter's row parser raises :class:`Malformed`
for a bad field; the adapter counts the row in the :class:`SkipReport` and goes on.

>>> check_id("00042", "customer_id")
>>> parse_float("2.5", "amount"), parse_flag("1", "visit")
(2.5, True)
>>> parse_int("x", "quantity")
Traceback (most recent call last):
...
segflow.sources.reading.Malformed: quantity: not an integer: 'x'
"""

from __future__ import annotations

import csv
import gzip
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from segflow.models.events import Event

T = TypeVar("T")

__all__ = [
    "MAX_ID",
    "MAX_PROBLEMS",
    "DatasetStream",
    "Malformed",
    "RowProblem",
    "SkipReport",
    "check_header",
    "check_id",
    "data_rows",
    "parse_flag",
    "parse_float",
    "parse_int",
    "row_rng",
]

#: Malformed rows kept with their line number and message (all are counted).
MAX_PROBLEMS = 1_000

#: Longest customer id an event accepts.
MAX_ID = 128


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A malformed row: where it is, what kind of problem, and one readable line."""

    line: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class SkipReport:
    """What reading a dataset did: rows read, events made, rows skipped and why.

    ``skipped`` counts skipped rows by reason: ``no_customer_id`` (Online Retail lines
    of guest buyers), ``zero_cancellation`` (a cancellation worth nothing, which the
    engine would count as an order), and the malformed-row reasons
    ``wrong_field_count``, ``bad_number``, ``bad_date``, ``bad_value``,
    ``missing_value``. ``problems`` lists the first :data:`MAX_PROBLEMS` malformed rows.
    ``out_of_order`` counts events emitted earlier in time than one before them
    (0 for the shipped files, except Taobao replayed in file order).
    """

    dataset: str
    rows: int = 0
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[RowProblem] = field(default_factory=list)
    out_of_order: int = 0

    #: Reasons that mean the row itself is broken (the rest are skipped on purpose).
    MALFORMED = frozenset(
        {"wrong_field_count", "bad_number", "bad_date", "bad_value", "missing_value", "invalid"}
    )

    @property
    def skipped_rows(self) -> int:
        """Rows skipped for any reason."""
        return sum(self.skipped.values())

    @property
    def malformed_rows(self) -> int:
        """Rows skipped because they are malformed."""
        return sum(n for reason, n in self.skipped.items() if reason in self.MALFORMED)

    def skip(self, reason: str, rows: int = 1) -> None:
        """Count ``rows`` skipped on purpose (not malformed)."""
        self.skipped[reason] += rows

    def malformed(self, line: int, reason: str, message: str) -> None:
        """Count a malformed row and keep its line number and message."""
        self.skipped[reason] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(RowProblem(line, reason, message))


class DatasetStream:
    """A dataset as an iterable of events, with the report of the latest pass.

    Each iteration reads the file again from the start and resets ``report``.
    """

    def __init__(
        self,
        name: str,
        path: Path,
        header: tuple[str, ...],
        produce: Callable[[SkipReport], Iterator[Event]],
    ) -> None:
        self.name = name
        self.path = path
        self.header = header
        self._produce = produce
        self.report = SkipReport(name)

    def check(self) -> None:
        """Raise ``ValueError`` (one line) unless the file is a gzip CSV with the right header.

        Reads the first line only: a quick test before a long replay starts.
        """
        try:
            with gzip.open(self.path, "rt", encoding="utf-8", newline="") as text:
                first = next(csv.reader(text), None)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
            raise ValueError(f"{self.path}: not a readable gzip CSV: {error}") from None
        check_header(self.path, first, self.header)

    def __iter__(self) -> Iterator[Event]:
        self.report = SkipReport(self.name)
        return self._ordered(self._produce(self.report), self.report)

    @staticmethod
    def _ordered(events: Iterator[Event], report: SkipReport) -> Iterator[Event]:
        newest: datetime | None = None
        for event in events:
            report.events += 1
            if newest is not None and event.occurred_at < newest:
                report.out_of_order += 1
            else:
                newest = event.occurred_at
            yield event


class Malformed(ValueError):
    """A bad field: ``reason`` is a malformed-row reason of :class:`SkipReport`, the
    message names the column and quotes the text."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def data_rows(
    path: Path, report: SkipReport, header: tuple[str, ...], limit: int | None
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data row with the right number of fields.

    Streams the gzip file; checks the header; counts every data row in
    ``report.rows`` and reports rows with a wrong field count. Stops after ``limit``
    data rows.
    """
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        check_header(path, next(reader, None), header)
        width = len(header)
        for row in reader:
            if limit is not None and report.rows >= limit:
                return
            if not row:
                continue  # a blank line is not a row
            report.rows += 1
            if len(row) != width:
                report.malformed(
                    reader.line_num,
                    "wrong_field_count",
                    f"{len(row)} fields, expected {width}",
                )
                continue
            yield reader.line_num, row


def parsed_rows(
    path: Path,
    report: SkipReport,
    header: tuple[str, ...],
    limit: int | None,
    parse: Callable[[list[str]], T],
) -> Iterator[tuple[int, T]]:
    """(line number, ``parse(fields)``) of each data row :func:`data_rows` yields; a row
    whose ``parse`` raises :class:`Malformed` is reported in ``report`` and skipped."""
    for line, row in data_rows(path, report, header, limit):
        try:
            parsed = parse(row)
        except Malformed as problem:
            report.malformed(line, problem.reason, str(problem))
            continue
        yield line, parsed


def check_header(path: Path, first: list[str] | None, header: tuple[str, ...]) -> None:
    """Raise ``ValueError`` (one line) unless ``first`` names the columns of ``header``."""
    names = tuple(name.strip().lstrip("\ufeff") for name in first or ())
    if names != header:
        found = ",".join(names) if names else "nothing"
        raise ValueError(f"{path}: line 1: expected the header {','.join(header)}, found {found}")


def check_id(text: str, column: str) -> None:
    """An integer id, short enough for an event's ``customer_id``, or ``Malformed``."""
    if not text.isdigit() or len(text) > MAX_ID:
        raise Malformed("bad_value", f"{column}: not an integer id: {text!r}")


def parse_int(text: str, column: str) -> int:
    """``text`` as an integer, or ``Malformed``."""
    try:
        return int(text)
    except ValueError:
        raise Malformed("bad_number", f"{column}: not an integer: {text!r}") from None


def parse_float(text: str, column: str) -> float:
    """``text`` as a finite number, or ``Malformed``."""
    try:
        value = float(text)
    except ValueError:
        raise Malformed("bad_number", f"{column}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise Malformed("bad_number", f"{column}: not a finite number: {text!r}")
    return value


def parse_flag(text: str, column: str) -> bool:
    """``0`` or ``1`` as a boolean, or ``Malformed``."""
    if text not in ("0", "1"):
        raise Malformed("bad_value", f"{column}: expected 0 or 1, found {text!r}")
    return text == "1"


def row_rng(*parts: object) -> random.Random:
    """A generator seeded with ``parts`` (say the dataset, the seed and the row).

    >>> row_rng("cdnow", 0, 2).randrange(86_400) == row_rng("cdnow", 0, 2).randrange(86_400)
    True
    """
    # Seeding with text hashes it with SHA-512: the same stream in every process,
    # whatever PYTHONHASHSEED, and independent per row (a slice gives the same times).
    return random.Random(":".join(str(part) for part in parts))
