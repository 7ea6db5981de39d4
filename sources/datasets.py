"""Real public customer datasets as segflow event streams (no Kafka here).

Four adapters, a module each, read the gzip CSVs described in
``../shared/data/README.md`` and yield valid events (:mod:`segflow.models.events`) in
event-time order (Taobao in file order on request):

* :func:`~segflow.sources.online_retail.online_retail` (UCI Online Retail): one
  ``purchase`` per invoice.
* :func:`~segflow.sources.cdnow.cdnow` (CDNOW master): one ``purchase`` per row,
  intra-day time synthesized.
* :func:`~segflow.sources.hillstrom.hillstrom` (MineThatData e-mail experiment):
  ``sent`` e-mail, visit click and conversion purchase per customer, times synthesized
  in the two-week window.
* :func:`~segflow.sources.taobao.taobao` (Taobao UserBehavior clickstream sample):
  product views, add-to-cart and add-to-favourites as ``click`` events, buys as
  ``purchase`` events.

This module is their registry (:data:`DATASETS`, :func:`open_dataset`), as the
``replay`` command knows them. Each adapter returns a
:class:`~segflow.sources.reading.DatasetStream`: iterate it for the events; its
:class:`~segflow.sources.reading.SkipReport` (``stream.report``) counts the rows read,
the events made and every skipped row by reason, with the line number and a message for
each malformed row (wrong number of fields, a number or date that does not parse, an
unknown value). A malformed row is skipped, never fatal. Line numbers count the header
as line 1. Event ids are deterministic, so a replay is reproducible and a re-sent event
is recognized as a duplicate by the engine.

>>> import gzip, pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "mini.csv.gz"
...     with gzip.open(path, "wt") as f:
...         _ = f.write("customer_id,date,quantity,amount_usd\\n00001,1997-01-01,1,11.77\\n"
...                     "00002,1997-13-01,1,9.99\\n00002,1997-01-12,5,77.0\\n")
...     stream = cdnow(path, seed=1)
...     events = list(stream)
>>> [(e.customer_id, e.amount) for e in events]
[('00001', 11.77), ('00002', 77.0)]
>>> dict(stream.report.skipped), str(stream.report.problems[0])
({'bad_date': 1}, "line 3: date: not a date: '1997-13-01'")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cdnow import cdnow
from .hillstrom import hillstrom
from .online_retail import online_retail
from .reading import DatasetStream
from .taobao import taobao

# DatasetStream is what open_dataset returns: exported with it.
__all__ = ["DATASETS", "Dataset", "DatasetStream", "default_path", "open_dataset"]


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset the ``replay`` command knows: its file and how to read it."""

    name: str
    filename: str
    description: str
    open: Callable[[Path, int, int | None], DatasetStream]
    seeded: bool


DATASETS: dict[str, Dataset] = {
    "online-retail": Dataset(
        "online-retail",
        "online_retail_uci.csv.gz",
        "UCI Online Retail: one purchase per invoice, cancellations as refunds",
        lambda path, seed, limit: online_retail(path, limit=limit),
        seeded=False,
    ),
    "cdnow": Dataset(
        "cdnow",
        "cdnow_master.csv.gz",
        "CDNOW purchase log: one purchase per row, synthetic time of day",
        lambda path, seed, limit: cdnow(path, seed=seed, limit=limit),
        seeded=True,
    ),
    "hillstrom": Dataset(
        "hillstrom",
        "hillstrom_email_campaign.csv.gz",
        "Hillstrom e-mail experiment: e-mail sent, visit, conversion, synthetic times",
        lambda path, seed, limit: hillstrom(path, seed=seed, limit=limit),
        seeded=True,
    ),
    "taobao": Dataset(
        "taobao",
        "taobao_userbehavior_sample.csv.gz",
        "Taobao clickstream: views, carts, favourites as clicks; buys as purchases of 1.0",
        lambda path, seed, limit: taobao(path, limit=limit),
        seeded=False,
    ),
}


def default_path(name: str, folder: str | Path) -> Path:
    """The file of dataset ``name`` in ``folder`` (which need not exist)."""
    return Path(folder) / DATASETS[name].filename


def open_dataset(
    name: str, path: str | Path, *, seed: int = 0, limit: int | None = None
) -> DatasetStream:
    """The events of dataset ``name`` (a key of :data:`DATASETS`) from the file ``path``.
    Raises ``KeyError`` for an unknown name and ``FileNotFoundError`` for a missing file."""
    dataset = DATASETS[name]
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    return dataset.open(source, seed, limit)
