"""Every topic segflow uses, with its partitions and configs, and an idempotent creator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .settings import Settings

COMPACT: Mapping[str, str] = {"cleanup.policy": "compact"}
#: Snapshots are ~150 KB each, published every few seconds: roll segments hourly so
#: compaction (which never touches the active segment) can drop the old ones.
SNAPSHOT_CONFIG: Mapping[str, str] = {
    **COMPACT,
    "segment.ms": str(3_600_000),
    "min.cleanable.dirty.ratio": "0.1",
}
#: Training samples are only useful for a while.
TRAINING_CONFIG: Mapping[str, str] = {"retention.ms": str(24 * 3_600_000)}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: name, partitions, configs and what it is for."""

    name: str
    partitions: int
    purpose: str
    internal: bool = False
    config: Mapping[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """All topics of a segflow deployment, inputs first.

    The repartition topic and the table changelogs must have the same number of
    partitions (Faust co-partitions a table with the stream that updates it). The
    training topic has one partition so one trainer sees every sample; the snapshot
    topic is compacted so only the latest model is kept.
    """
    t, n, keep = settings.topics, settings.partitions, settings.retention
    inputs = [
        TopicSpec(name, n, f"input: {kind} events", config=keep.config(keep.input_days))
        for kind, name in t.inputs().items()
    ]
    internal = [
        (t.events, n, "valid events repartitioned by customer_id", keep.config(keep.events_days)),
        (settings.profiles_changelog, n, "profile table changelog", COMPACT),
        (
            settings.identities_changelog,
            n,
            "identities table changelog (links, erased ids)",
            COMPACT,
        ),
        (t.training, 1, "feature vectors for the shared model", TRAINING_CONFIG),
        (t.snapshots, 1, "versioned model snapshots", SNAPSHOT_CONFIG),
    ]
    outputs = [
        (t.changes, n, "output: segment changes keyed by customer_id", keep.changes_days),
        (t.dead_letters, 1, "invalid input with its origin and the reason", keep.dead_letters_days),
        (
            t.webhook_dead_letters,
            1,
            "changes a webhook could not deliver, with the reason",
            keep.dead_letters_days,
        ),
        (t.drift, 1, "output: segment drift alerts keyed by segment", keep.drift_days),
    ]
    membership = TopicSpec(
        t.membership, n, "output: current memberships keyed by customer_id", config=COMPACT
    )
    return [
        *inputs,
        *(TopicSpec(name, p, purpose, True, config) for name, p, purpose, config in internal),
        *(
            TopicSpec(name, p, purpose, config=keep.config(days))
            for name, p, purpose, days in outputs
        ),
        membership,
    ]


@dataclass(frozen=True, slots=True)
class TopicStatus:
    """What :func:`create_topics` did for one topic."""

    spec: TopicSpec
    created: bool
    partitions: int
    problem: str | None = None


def _admin(settings: Settings, timeout_s: float) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )


def existing_partitions(admin: Any, names: list[str]) -> dict[str, int]:
    """Partition count of each topic in ``names`` that exists."""
    present = set(admin.list_topics())
    wanted = [name for name in names if name in present]
    if not wanted:
        return {}
    return {
        topic["name"]: len(topic["partitions"])
        for topic in admin.describe_topics(wanted)
        if topic.get("error_code", 0) == 0
    }


def partition_counts(
    settings: Settings, names: list[str], timeout_s: float = 10.0
) -> dict[str, int]:
    """Partition count of each topic in ``names`` that exists, asked of the cluster (what
    every group member can learn, not only the group leader). Blocking: a worker runs it
    in a thread."""
    admin = _admin(settings, timeout_s)
    try:
        return existing_partitions(admin, names)
    finally:
        admin.close()


def create_topics(settings: Settings, timeout_s: float = 15.0) -> list[TopicStatus]:
    """Create every missing topic; leave existing ones alone. Idempotent.

    An existing topic with a partition count other than the spec is reported
    in ``problem`` (the repartition topic and the changelog must agree).
    """
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = topic_specs(settings)
    admin = _admin(settings, timeout_s)
    try:
        before = existing_partitions(admin, [s.name for s in specs])
        statuses: list[TopicStatus] = []
        for spec in specs:
            if spec.name in before:
                have = before[spec.name]
                problem = (
                    f"has {have} partitions, segflow expects {spec.partitions}"
                    if have != spec.partitions
                    else None
                )
                statuses.append(TopicStatus(spec, False, have, problem))
                continue
            new = NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=dict(spec.config),
            )
            try:
                admin.create_topics([new], timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:  # created meanwhile by someone else
                statuses.append(TopicStatus(spec, False, spec.partitions))
            else:
                statuses.append(TopicStatus(spec, True, spec.partitions))
        return statuses
    finally:
        admin.close()


def check_copartitioned(statuses: list[TopicStatus], settings: Settings) -> str | None:
    """A one-line problem if the repartition topic and the changelog disagree, else None."""
    by_name = {s.spec.name: s.partitions for s in statuses}
    events = by_name.get(settings.topics.events)
    changelog = by_name.get(settings.profiles_changelog)
    if events is not None and changelog is not None and events != changelog:
        return (
            f"topic {settings.topics.events} has {events} partitions but "
            f"{settings.profiles_changelog} has {changelog}; they must match"
        )
    return None
