"""The streaming engine's settings: one frozen object, read once from the environment.

Every value can be set with an environment variable prefixed ``SEGFLOW_``;
nested values use ``__`` (``SEGFLOW_TOPICS__CLICKS=web-clicks``,
``SEGFLOW_ENGINE__N_SEGMENTS=8``, ``SEGFLOW_ENGINE__HALF_LIFE_DAYS=14``).
Command-line options override the environment.

>>> s = Settings(broker="localhost:9092", partitions=2)
>>> s.bootstrap_servers, s.broker, s.partitions
('localhost:9092', 'kafka://localhost:9092', 2)
>>> s.engine.n_segments
6
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from segflow.models.config import EngineConfig
from segflow.models.drift import DriftConfig
from segflow.models.errors import ConfigError, FirstError

from .data_policy import DeadLetterPolicy, Retention
from .health import HealthConfig
from .setting_groups import TOPIC_NAME, EventTimeBounds, TopicNames, WebhookSettings, host_name

_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
#: RFC 6750's b64token (what may follow "Bearer "; also safe in a cookie), 16 or more.
_BEARER_TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]{16,}=*$")

#: Shortest accepted ``SEGFLOW_MODEL_KEY``.
MIN_MODEL_KEY_LENGTH = 16

LogLevel = Literal["debug", "info", "warn", "error", "critical"]


class Settings(BaseSettings):
    """Settings of a segflow worker, CLI command or test (frozen; build once, pass down)."""

    model_config = SettingsConfigDict(
        env_prefix="SEGFLOW_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    broker: str = Field(
        "kafka://localhost:9092",
        description="Kafka bootstrap servers: host:port[,host:port] or kafka://host:port",
    )
    app_id: str = Field("segflow", description="Faust app id: consumer group and table prefix.")
    topics: TopicNames = TopicNames()
    partitions: int = Field(4, ge=1, le=1024, description="Partitions of segflow's topics.")
    replication_factor: int = Field(1, ge=1, le=16)
    store: str = Field(
        "rocksdb://", description="Profile table store: rocksdb:// (workers) or memory://."
    )
    data_dir: Path = Field(Path("segflow-data"), description="Worker state (RocksDB) directory.")
    web_port: int = Field(6066, ge=0, le=65535, description="Worker web port; 0 disables it.")
    web_bind: str = "127.0.0.1"
    session_timeout_s: float = Field(
        10.0, ge=1.0, le=300.0, description="Session timeout; a dead worker's partitions move."
    )
    heartbeat_interval_s: float = Field(1.0, gt=0, le=100.0)
    commit_interval_s: float = Field(
        3.0, gt=0, le=60.0, description="How often offsets are committed (profiles written)."
    )
    standby_replicas: int = Field(
        0, ge=0, le=8, description="Standby table copies per partition (0: recover from changelog)."
    )
    learn: bool = Field(
        True,
        description="Send the samples the step hands out to the trainer (which learns them "
        "and publishes the model). Off on every worker, the model stays the one on the "
        "snapshot topic (learned offline, or pinned for a test).",
    )
    training_rate: float = Field(
        200.0,
        ge=0,
        description="Max training samples/s the group sends (0: no limit); each worker "
        "sends its share, by the input partitions it owns.",
    )
    publish_every: int = Field(
        500, ge=1, description="The trainer publishes a snapshot after this many samples..."
    )
    publish_interval_s: float = Field(
        5.0, gt=0, description="...or this many seconds after the first unpublished sample."
    )
    single_record_batches: bool = Field(
        False,
        description="Produce one record per batch: needed on Tansu 0.6, whose end offsets "
        "miss all but the first record of a partition's last batch, which makes Faust's "
        "table recovery stop short (lost profile updates after a failover).",
    )
    sweep: bool = Field(
        True, description="Re-assess silent customers as event time passes (inactivity sweep)."
    )
    batch_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Most messages the profile agent takes at once; each customer's profile "
        "is kept once per batch (and written before the next offset commit).",
    )
    write_behind: bool = Field(
        True,
        description="Write a changed profile to the table once before the next offset "
        "commit, not once per batch (fewer changelog messages; the same guarantees).",
    )
    batch_wait_s: float = Field(
        0.005,
        gt=0,
        le=5.0,
        description="How long the agent waits, from a batch's first event, to fill it (latency).",
    )
    producer_linger_s: float = Field(
        0.005,
        ge=0,
        le=1.0,
        description="How long the worker's producer gathers messages into one request "
        "(more throughput, more latency; 5 ms: +10 % events/s, no loss of latency here).",
    )
    rocksdb_memory_mb: int = Field(
        256,
        ge=8,
        description="Memory the profile table's RocksDB stores may use for block cache and "
        "write buffers, over all partitions (a worker owning some uses its share).",
    )
    fetch_max_wait_ms: int = Field(
        10,
        ge=0,
        le=10_000,
        description="Longest a worker's fetch waits for data while data flows. Apache Kafka "
        "answers as soon as data arrives; Tansu waits it out (it adds to every event's "
        "latency there). Faust's own value is 1,500.",
    )
    fetch_idle_wait_ms: int = Field(
        100,
        ge=0,
        le=10_000,
        description="Longest an idle worker's fetch waits: past two fetches in a row that "
        "bring nothing each doubles the wait up to this; one with records sets it back "
        "(less polling; on Tansu the first event after a quiet spell waits up to this).",
    )
    profile_cache: int = Field(10_000, ge=0, description="Profiles kept decoded (LRU) per worker.")
    log_level: LogLevel = "warn"
    engine: EngineConfig = EngineConfig()
    drift: DriftConfig = DriftConfig()
    retention: Retention = Retention()
    health: HealthConfig = HealthConfig()
    dead_letters: DeadLetterPolicy = DeadLetterPolicy()
    event_time: EventTimeBounds = EventTimeBounds()
    webhooks: WebhookSettings = WebhookSettings()
    web_advertised_host: str | None = Field(
        None,
        description="Host other workers reach this one's web port at (request routing); "
        "default: web_bind.",
    )
    model_key: SecretStr | None = Field(
        None,
        description="Shared secret (at least 16 characters, the same on every worker) the "
        "trainer signs model snapshots with (HMAC-SHA256) and every worker checks them "
        "with: a worker with a key takes no unsigned or badly signed snapshot. Unset: "
        "snapshots are neither signed nor checked (a warning at start-up).",
    )

    @field_validator("model_key")
    @classmethod
    def _long_enough_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_MODEL_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_MODEL_KEY_LENGTH} characters (or unset: snapshots "
                "are then not authenticated)"
            )
        return value

    web_token: SecretStr | None = Field(
        None,
        description="Bearer token every web route but /healthz and /metrics requires "
        "(Authorization: Bearer <token>, or the dashboard's cookie); unset: none. At least "
        "16 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding). Every worker of a "
        "deployment needs the same one (they send it to each other).",
    )
    web_allowed_hosts: str | None = Field(
        None,
        description="Host names (or IP addresses) requests may name in their Host header, "
        "comma-separated; '*' allows any. Unset: localhost, 127.0.0.1, ::1 and the machine's "
        "host name. Always allowed besides: the advertised host, the group's workers' hosts "
        "and the address a request arrived at.",
    )
    web_faust_routes: bool = Field(
        False,
        description="Serve Faust's built-in pages (/router, /table, /graph, /assignment, "
        "/performance) besides segflow's.",
    )

    @field_validator("broker")
    @classmethod
    def _normalize_broker(cls, value: str) -> str:
        text = value.strip()
        if text.startswith("kafka://"):
            text = text[len("kafka://") :]
        servers = [s.strip() for s in text.split(",") if s.strip()]
        if not servers or not all(_HOST_PORT.match(s) for s in servers):
            raise ValueError(f"{value!r} is not host:port[,host:port] (or kafka://host:port)")
        return "kafka://" + ",".join(servers)

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value not in {"memory://", "rocksdb://"}:
            raise ValueError(f"{value!r} is not memory:// or rocksdb://")
        return value

    @field_validator("app_id")
    @classmethod
    def _valid_app_id(cls, value: str) -> str:
        if not TOPIC_NAME.match(value):
            raise ValueError(f"{value!r} may only contain letters, digits, '.', '_' and '-'")
        return value

    @field_validator("web_token")
    @classmethod
    def _bearer_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _BEARER_TOKEN.match(value.get_secret_value()):
            raise ValueError(
                "must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding), "
                "e.g. the output of `openssl rand -hex 32`"
            )
        return value

    @field_validator("web_allowed_hosts")
    @classmethod
    def _host_list(cls, value: str | None) -> str | None:
        if value is None:
            return None
        hosts = []
        for item in value.split(","):
            host = "*" if item.strip() == "*" else host_name(item)
            if host is None:
                raise ValueError(
                    f"{item.strip()!r} is not a host name or IP address (no port, no path); "
                    "give a comma-separated list, or '*'"
                )
            hosts.append(host)
        return ",".join(dict.fromkeys(hosts))

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> Settings:
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError("heartbeat_interval_s must be at most a third of session_timeout_s")
        return self

    @property
    def model_key_bytes(self) -> bytes | None:
        """The snapshot signing key as bytes (None: snapshots are not authenticated)."""
        return None if self.model_key is None else self.model_key.get_secret_value().encode()

    @property
    def bootstrap_servers(self) -> str:
        """``host:port[,host:port]`` for kafka-python and aiokafka."""
        return self.broker[len("kafka://") :]

    @property
    def allowed_hosts(self) -> frozenset[str] | None:
        """The hosts ``web_allowed_hosts`` lists (``*``: any); None when it is unset."""
        if self.web_allowed_hosts is None:
            return None
        return frozenset(self.web_allowed_hosts.split(","))

    @property
    def profiles_changelog(self) -> str:
        """The changelog topic Faust keeps for the profile table."""
        return f"{self.app_id}-profiles-changelog"

    @property
    def identities_changelog(self) -> str:
        """The changelog topic Faust keeps for the identities table (anonymous id links)."""
        return f"{self.app_id}-identities-changelog"


def settings_env(settings: Settings) -> dict[str, str]:
    """``SEGFLOW_*`` environment variables that rebuild exactly ``settings`` in a child process.

    >>> env = settings_env(Settings(partitions=2))
    >>> env["SEGFLOW_PARTITIONS"], env["SEGFLOW_ENGINE__N_SEGMENTS"], env["SEGFLOW_TOPICS__CLICKS"]
    ('2', '6', 'clicks')
    >>> Settings.model_validate({}) == Settings()
    True
    """
    env: dict[str, str] = {}

    def put(name: str, value: Any) -> None:
        if isinstance(value, BaseModel):
            for field in type(value).model_fields:
                put(f"{name}__{field.upper()}", getattr(value, field))
        elif value is None:
            return
        elif isinstance(value, SecretStr):
            env[name] = value.get_secret_value()
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        elif isinstance(value, dict | list | tuple):
            env[name] = json.dumps(value)
        else:
            env[name] = str(value)

    for field in type(settings).model_fields:
        put(f"SEGFLOW_{field.upper()}", getattr(settings, field))
    return env


def child_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) minus ``SEGFLOW_*``, plus ``settings``."""
    import os

    source = dict(os.environ if base is None else base)
    env = {key: value for key, value in source.items() if not key.startswith("SEGFLOW_")}
    env.update(settings_env(settings))
    return env


def describe_settings_error(error: ValidationError) -> str:
    """One line naming the first bad setting as its environment variable."""
    first = FirstError.of(error)
    loc = [str(part) for part in first.loc]
    return first.line("SEGFLOW_" + "__".join(part.upper() for part in loc) if loc else "settings")


#: ``SEGFLOW_*`` variables that are not worker settings (each read by one command).
OTHER_VARIABLES = frozenset({"SEGFLOW_DATASETS_DIR"})


def known_variables() -> frozenset[str]:
    """Every ``SEGFLOW_*`` variable segflow reads: one per setting, one per field of a
    nested setting at any depth (``SEGFLOW_ENGINE__N_SEGMENTS``,
    ``SEGFLOW_ENGINE__IDENTITY__REASSIGN``), and :data:`OTHER_VARIABLES`.

    >>> {"SEGFLOW_PARTITIONS", "SEGFLOW_ENGINE__IDENTITY__REASSIGN"} <= known_variables()
    True
    >>> set(settings_env(Settings())) <= known_variables()
    True
    """
    names = set(OTHER_VARIABLES)

    def add(name: str, annotation: Any) -> None:
        names.add(name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for field, info in annotation.model_fields.items():
                add(f"{name}__{field.upper()}", info.annotation)

    for field, info in Settings.model_fields.items():
        add(f"SEGFLOW_{field.upper()}", info.annotation)
    return frozenset(names)


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` naming the first ``SEGFLOW_*`` variable that is no
    setting (a misspelt one would otherwise be ignored), with the closest known name.

    >>> try:
    ...     check_environment({"SEGFLOW_PARTITION": "8"})
    ... except ConfigError as error:
    ...     print(error)
    unknown setting SEGFLOW_PARTITION (did you mean SEGFLOW_PARTITIONS?)
    """
    known = known_variables()
    for name in sorted(environ):
        if name.upper().startswith("SEGFLOW_") and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else " (see the README's settings)"
            raise ConfigError(f"unknown setting {name}{hint}")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (``None`` values ignored) on top.

    Raises :class:`ConfigError` with one line naming the setting, also for a
    ``SEGFLOW_*`` variable that is no setting (:func:`check_environment`).
    """
    import os

    check_environment(os.environ)
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        raise ConfigError(describe_settings_error(error)) from None
