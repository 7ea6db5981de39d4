"""``segflow erase CUSTOMER_ID...``: ask the workers to erase people.

Each id becomes one erase command (``segflow.models.erasure.EraseCommand``) on the
``erasures`` topic, keyed by the customer id, acknowledged by the broker before the
command says so. The workers then remove the customer's profile and every anonymous
visitor linked to it, publish exit changes (``reason`` ``erased``) and drop the
person's later events for ``SEGFLOW_ENGINE__ERASURE__WINDOW_DAYS``.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from segflow.models.erasure import EraseCommand
from segflow.models.timeutil import from_epoch

from .cli_common import EXIT_OK, add_broker, require_broker, settings_from
from .errors import CommandError


def add_erase_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``erase`` command to ``segflow``'s subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "erase",
        help="erase customers and their linked anonymous visitors",
        description="Send an erase command per customer id to the erasures topic.",
    )
    parser.add_argument("customers", metavar="CUSTOMER_ID", nargs="+", help="ids to erase")
    add_broker(parser)
    parser.set_defaults(handler=run_erase)
    return parser


def run_erase(args: argparse.Namespace) -> int:
    """Produce the erase commands; one line per id once the broker took it."""
    from .producer import kafka_producer
    from .worker import ensure_topics

    settings = settings_from(args)
    require_broker(settings)
    ensure_topics(settings)
    producer = kafka_producer(settings, acks="all")
    try:
        for customer in args.customers:
            command = EraseCommand(
                command_id=str(uuid.uuid4()),
                customer_id=customer,
                occurred_at=from_epoch(time.time()),
            )
            future = producer.send(
                settings.topics.erasures,
                key=customer.encode(),
                value=command.model_dump_json().encode(),
            )
            try:
                future.get(timeout=30)
            except Exception as error:
                raise CommandError(f"erasing {customer}: {error}") from None
            print(f"erase {customer}: sent ({command.command_id})")
    finally:
        producer.close()
    return EXIT_OK
