"""The Faust settings a worker runs with, from segflow's :class:`Settings`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .faust_patches import SeekFirstTableManager
from .settings import Settings


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """RocksDB options of each partition's store: ``rocksdb_memory_mb`` split evenly over
    the partitions, half block cache, half two write buffers (Faust's defaults allow
    2 GiB of cache and 192 MiB of write buffers per partition).

    >>> rocksdb_options(Settings(partitions=4, rocksdb_memory_mb=256))["write_buffer_size"]
    16777216
    """
    per_partition = settings.rocksdb_memory_mb * 1024 * 1024 // settings.partitions
    return {
        "block_cache_size": per_partition // 2,
        "block_cache_compressed_size": 0,
        "write_buffer_size": per_partition // 4,
        "max_write_buffer_number": 2,
    }


def faust_options(settings: Settings, middlewares: Sequence[Any] = ()) -> dict[str, Any]:
    """The Faust settings segflow uses (kept in one place, and noted where they matter).

    ``middlewares`` go on the web server's aiohttp application (see :mod:`.web_guard`).
    """
    faust_pages = settings.web_faust_routes
    options: dict[str, Any] = {
        "broker": settings.broker,
        "store": settings.store,
        "datadir": str(settings.data_dir.absolute()),
        "autodiscover": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        # Only the partitions' changelog is replayed on takeover; standbys made a second
        # worker bring no speed-up with tables (measured: 1.0x with 1 standby, 1.4x with 0).
        "table_standby_replicas": settings.standby_replicas,
        # Tansu holds the first JoinGroup for half the session timeout, and a dead
        # worker's partitions move only after it: keep it short.
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.heartbeat_interval_s,
        "broker_commit_interval": settings.commit_interval_s,
        # Faust also commits every 10,000 messages; the interval alone decides here, as
        # each commit writes every profile changed since the last (write-behind).
        "broker_commit_every": 1_000_000,
        "consumer_auto_offset_reset": "earliest",
        # No on_leader tasks: skip the extra leader topic.
        "topic_disable_leader": True,
        "web_enabled": settings.web_port != 0,
        "web_port": settings.web_port or 6066,
        "web_bind": settings.web_bind,
        "web_host": settings.web_advertised_host or settings.web_bind,
        # Faust's own pages (/router, /table, /graph, /assignment, /performance) expose
        # the cluster's layout and table contents: off unless asked for. Request routing
        # (@app.table_route) reads the assignor, not /router, and works without them.
        "web_router_enabled": faust_pages,
        "web_tables_enabled": faust_pages,
        "web_graph_enabled": faust_pages,
        "web_stats_enabled": faust_pages,
        "web_metrics_enabled": faust_pages,
        "web_application_options": {"middlewares": list(middlewares)},
        "worker_redirect_stdouts": False,
        # 0 (Faust's default) sends each table write, change and sample at once; a few ms
        # gathers them into fewer requests: less CPU per event on both sides.
        "producer_linger": settings.producer_linger_s,
        # Snapshots are ~150 KB; leave room.
        "producer_max_request_size": 8 * 1024 * 1024,
        "consumer_max_fetch_size": 8 * 1024 * 1024,
        # Seek stream partitions to committed offsets before resuming them after a
        # rebalance (Faust 0.15.3 resumes first, and can skip input records).
        "TableManager": SeekFirstTableManager,
    }
    if settings.single_record_batches:
        # aiokafka starts a new batch when a record does not fit: 1 byte fits one record.
        options["producer_max_batch_size"] = 1
    return options
