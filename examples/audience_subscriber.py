"""A subscriber that keeps a local audience of segflow's segments (kafka-python only).

It starts with everyone's current memberships and then follows the changes, without a
gap: it records the end offsets of ``segment-changes`` first, reads
``segment-membership`` (compacted: one record per customer, a tombstone when the
customer is in no segment) to its end, then follows ``segment-changes`` from the
recorded offsets. Per customer it keeps what the highest ``seq`` says, so repeats and
changes older than a membership record change nothing.

    python examples/audience_subscriber.py --broker localhost:9092 --idle-timeout 10

prints, once no change came for that long (without it: after every change), one JSON
object: segment id -> sorted member ids. Nothing here imports segflow.
"""

from __future__ import annotations

import argparse
import json
import time

from kafka import KafkaConsumer, TopicPartition


class Audience:
    """Who is in which segment, by the highest ``seq`` seen per customer."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.behavioral: dict[str, str] = {}
        self.rules: dict[str, set[str]] = {}

    def membership(self, customer: str, record: dict | None) -> None:
        if record is None:  # a tombstone: in no segment
            self.behavioral.pop(customer, None)
            self.rules.pop(customer, None)
            return
        if record["seq"] < self.seq.get(customer, 0):
            return
        self.seq[customer] = record["seq"]
        segment = record.get("segment")
        if segment:
            self.behavioral[customer] = segment["id"]
        else:
            self.behavioral.pop(customer, None)
        self.rules[customer] = {rule["id"] for rule in record["rule_segments"]}

    def change(self, change: dict) -> None:
        customer, seq = change["customer_id"], change.get("seq")
        if seq is not None:
            if seq <= self.seq.get(customer, 0):
                return
            self.seq[customer] = seq
        before, to = change["from_segment"], change["to_segment"]
        if change["kind"] == "behavioral":
            if to is None:
                self.behavioral.pop(customer, None)
            else:
                self.behavioral[customer] = to
            return
        rules = self.rules.setdefault(customer, set())
        rules.discard(before)
        if to is not None:
            rules.add(to)

    def segments(self) -> dict[str, list[str]]:
        found: dict[str, set[str]] = {}
        for customer, segment in self.behavioral.items():
            found.setdefault(segment, set()).add(customer)
        for customer, rules in self.rules.items():
            for rule in rules:
                found.setdefault(rule, set()).add(customer)
        return {segment: sorted(ids) for segment, ids in sorted(found.items()) if ids}


def assign(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(tps)
    return tps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="localhost:9092")
    parser.add_argument("--changes", default="segment-changes")
    parser.add_argument("--membership", default="segment-membership")
    parser.add_argument("--idle-timeout", type=float, help="exit after this long without a change")
    args = parser.parse_args()
    consumer = KafkaConsumer(bootstrap_servers=args.broker, enable_auto_commit=False)
    audience = Audience()
    # 1. Where the changes resume: their end offsets, taken before the membership read.
    start = consumer.end_offsets(assign(consumer, args.changes))
    # 2. Everyone's membership, to the end of the compacted topic.
    tps = assign(consumer, args.membership)
    ends = consumer.end_offsets(tps)
    consumer.seek_to_beginning(*tps)
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                value = json.loads(r.value) if r.value is not None else None
                audience.membership(r.key.decode(), value)
    # 3. The changes from the recorded offsets on.
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    last = time.monotonic()
    while args.idle_timeout is None or time.monotonic() - last < args.idle_timeout:
        for records in consumer.poll(timeout_ms=200).values():
            last = time.monotonic()
            for r in records:
                audience.change(json.loads(r.value))
            if args.idle_timeout is None:
                print(json.dumps(audience.segments()), flush=True)
    consumer.close()
    print(json.dumps(audience.segments()))


if __name__ == "__main__":
    main()
