"""The deployment files (Dockerfile, docker-compose.yml, deploy/) agree with the app.

There is no Docker engine here, so nothing is built or started: the files are parsed
and checked against what the code reads and serves. Every metric a Grafana panel or an
alert rule queries must be one a live worker (started on the local test broker)
actually exports on ``/metrics``; the compose environment must be settings the app
accepts; ports, addresses and mounted paths must line up between the services.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from segflow.streams.cli import build_parser
from segflow.streams.settings import Settings, settings_env

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "streams"))  # the broker tests' helpers

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS_YML = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "segflow.json"
GRAFANA_PROVISIONING = DEPLOY / "grafana" / "provisioning"
SEGFLOW_BIN = Path(sys.executable).parent / "segflow"

WORKERS = ("segflow-worker-1", "segflow-worker-2")
TOPICS_INIT = "topics-init"
#: Series Prometheus makes itself (not exported by a worker).
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
#: Labels Prometheus attaches to every scraped series (job, instance, static labels).
TARGET_LABELS = {"job", "instance", "app"}


# -- loading -----------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


def services() -> dict[str, Any]:
    result: dict[str, Any] = compose()["services"]
    return result


#: What the host's environment gives the variables compose requires (``${NAME:?...}``).
HOST_ENV = {
    "SEGFLOW_WEB_TOKEN": "compose-test-token-0123456789abcdef",
    "SEGFLOW_MODEL_KEY": "compose-test-model-key-0123456789",
}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """``value`` as compose reads it, the host's environment being :data:`HOST_ENV`:
    ``${NAME:-default}`` takes the default, ``${NAME:?error}`` must be in HOST_ENV."""

    def resolve(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name in HOST_ENV:
            return HOST_ENV[name]
        assert operator is None or "?" not in operator, f"compose requires ${name}"
        return argument if operator and "-" in operator else ""

    return _INTERPOLATION.sub(resolve, value.replace("$$", "\0")).replace("\0", "$")


def raw_env_of(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment as written (mapping or list form)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment as its container sees it (see :func:`interpolate`)."""
    return {k: interpolate(v) for k, v in raw_env_of(service).items()}


def segflow_env(service: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in env_of(service).items() if k.startswith("SEGFLOW_")}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    out: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_exprs() -> list[tuple[str, str, str]]:
    """(panel title, PromQL, legend format) of every dashboard query."""
    return [
        (panel["title"], target["expr"], target.get("legendFormat", ""))
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
    ]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS_YML)["groups"] for rule in group["rules"]]


def all_exprs() -> list[tuple[str, str, str]]:
    """(where, PromQL, legend) of every dashboard query and alert rule."""
    rules = [(f"alert {r['alert']}", str(r["expr"]), "") for r in alert_rules()]
    return [(f"panel {t}", e, legend) for t, e, legend in dashboard_exprs()] + rules


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def dockerfile_args(name: str) -> list[str]:
    return [args for instruction, args in dockerfile_instructions() if instruction == name]


def exec_form(args: str) -> list[str]:
    """A Dockerfile ``["a", "b"]`` (exec form) or shell form as argv."""
    if args.startswith("["):
        parsed = json.loads(args)
        assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
        return parsed
    return shlex.split(args)


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in dockerfile_args("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


# -- PromQL ------------------------------------------------------------------------------

_PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "inf",
    "nan",
}
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_NUMBER = re.compile(r"(?<![\w:.])\d+(\.\d+)?([eE][+-]?\d+)?(?![\w:])")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _strip_promql(expr: str) -> str:
    text = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'', " ", expr)  # strings
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges and subqueries
    text = _LABEL_LIST.sub(" ", text)  # by (...), on (...) ...
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)  # Grafana variables
    return _NUMBER.sub(" ", text)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names (series selectors) a PromQL expression reads."""
    text = _strip_promql(expr)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in _PROMQL_KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(word)
    return names


def promql_labels(expr: str, legend: str = "") -> set[str]:
    """Label names an expression groups by, matches on, or its legend shows."""
    text = re.sub(r'"(\\.|[^"\\])*"', '""', expr)
    labels = set()
    for _, names in _LABEL_LIST.findall(text):
        labels.update(n.strip() for n in names.split(",") if n.strip())
    for matchers in re.findall(r"\{([^{}]*)\}", text):
        labels.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    labels.update(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend))
    return labels


def exported_series(families: list[Any]) -> dict[str, Any]:
    """Every series name the exposition allows -> its family.

    The text parser names a counter family without ``_total`` and a histogram family
    without ``_bucket``/``_sum``/``_count``; a query names the series, so map back:
    ``x_bucket`` is a real series only if ``x`` is a histogram, ``x_total`` only if
    ``x`` is a counter, even when a labelled family has no sample yet.
    """
    suffixes = {
        "counter": ["_total"],
        "histogram": ["_bucket", "_sum", "_count"],
        "gaugehistogram": ["_bucket", "_gsum", "_gcount"],
        "summary": ["", "_sum", "_count"],
        "info": ["_info"],
    }
    out: dict[str, Any] = {}
    for family in families:
        for suffix in suffixes.get(family.type, [""]):
            out[family.name + suffix] = family
        for sample in family.samples:
            out[sample.name] = family
    return out


def test_promql_metric_names_skips_functions_labels_ranges_numbers_and_variables() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{x="y"}[$__rate_interval])))'
        " / on () group_left sum(b_total offset 1h) > 1e-9 or vector(0) and up"
        ' unless max without (instance) (c:recorded{job=~"s.*"} @ 1700000000)'
    )
    assert promql_metric_names(expr) == {"a_seconds_bucket", "b_total", "up", "c:recorded"}


def test_promql_labels_reads_groupings_matchers_and_legends() -> None:
    expr = 'sum by (a, b) (rate(m{c="x", d!~"y,z"}[1m])) / on (e) n'
    assert promql_labels(expr, "{{f}} {{ a }}") == {"a", "b", "c", "d", "e", "f"}


def test_exported_series_maps_suffixes_to_the_right_family_type() -> None:
    text = (
        "# TYPE h_seconds histogram\n"
        'h_seconds_bucket{le="+Inf"} 1\nh_seconds_sum 1\nh_seconds_count 1\n'
        "# TYPE c counter\n"
        "# TYPE g gauge\ng 1\n"
    )
    series = exported_series(list(text_string_to_metric_families(text)))
    for name in ("h_seconds_bucket", "h_seconds_sum", "h_seconds_count", "c_total", "g"):
        assert name in series
    for name in ("h_seconds", "c", "g_bucket", "g_total", "c_bucket"):
        assert name not in series


# -- files parse -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        COMPOSE,
        PROMETHEUS_YML,
        ALERTS_YML,
        *sorted(GRAFANA_PROVISIONING.glob("*/*.yml")),
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_yaml_files_parse(path: Path) -> None:
    assert isinstance(load_yaml(path), dict)


def test_dashboard_json_parses_and_has_unique_panel_ids() -> None:
    data = dashboard()
    assert data["uid"] and data["title"]
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids))
    for panel in dashboard_panels():
        if panel["type"] != "row":
            assert panel.get("targets"), f"panel {panel['title']!r} queries nothing"
            assert all(t.get("expr") for t in panel["targets"]), panel["title"]


def test_every_query_names_at_least_one_metric() -> None:
    for where, expr, _ in all_exprs():
        assert promql_metric_names(expr), f"{where}: no metric found in {expr!r}"


# -- the dashboard and the alerts cover what the issue asks ------------------------------


def _panels_reading(metric: str) -> list[str]:
    return [title for title, expr, _ in dashboard_exprs() if metric in promql_metric_names(expr)]


def test_dashboard_has_the_panels_operators_need() -> None:
    sizes = _panels_reading("segflow_segment_customers")
    assert sizes, "segment sizes over time"
    changes = [
        expr
        for _, expr, _ in dashboard_exprs()
        if "segflow_segment_changes_total" in promql_metric_names(expr)
    ]
    assert any({"from_segment", "to_segment"} <= promql_labels(e) for e in changes), (
        "changes by from/to"
    )
    assert _panels_reading("segflow_drift_alerts_total"), "drift alerts"
    assert _panels_reading("segflow_dead_letters_total"), "dead letters"
    by_topic = [
        e
        for _, e, _ in dashboard_exprs()
        if "segflow_events_consumed_total" in promql_metric_names(e) and "topic" in promql_labels(e)
    ]
    assert by_topic, "events/s by topic"
    latency = [
        e
        for _, e, _ in dashboard_exprs()
        if "segflow_change_latency_from_event_seconds_bucket" in promql_metric_names(e)
    ]
    assert any("histogram_quantile(0.5," in e for e in latency), "latency p50"
    assert any("histogram_quantile(0.99," in e for e in latency), "latency p99"
    assert _panels_reading("segflow_kafka_consumer_lag"), "consumer lag"


def test_alert_rules_cover_drift_dead_letters_lag_and_silence() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"(\d+[smhdw])+", rule["for"]), rule["alert"]
    read = {r["alert"]: promql_metric_names(str(r["expr"])) for r in rules}

    def alerting_on(metric: str) -> list[str]:
        return [name for name, metrics in read.items() if metric in metrics]

    assert alerting_on("segflow_drift_alerts_total")
    assert alerting_on("segflow_dead_letters_total")
    assert alerting_on("segflow_kafka_consumer_lag")
    assert alerting_on("segflow_segment_changes_total")


# -- settings: the environment the files set is one the app accepts ----------------------


def known_env_names(model: type[BaseModel] = Settings, prefix: str = "SEGFLOW_") -> set[str]:
    """Every ``SEGFLOW_*`` variable ``Settings`` reads (nested models with ``__``)."""
    names: set[str] = set()
    for field, info in model.model_fields.items():
        name = prefix + field.upper()
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= known_env_names(annotation, name + "__")
        else:
            names.add(name)
    return names


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``Settings`` read from exactly ``env``, as a container would."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        return Settings()
    finally:
        for key in env:
            monkeypatch.delenv(key)


def _same(a: str, b: str) -> bool:
    try:
        return a == b or float(a) == float(b)
    except ValueError:
        return False


def assert_accepted(env: dict[str, str], where: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every variable is a field of ``Settings``, validates, and takes effect as written."""
    unknown = sorted(set(env) - known_env_names())
    assert not unknown, f"{where}: settings the app does not read: {unknown}"
    settings = settings_from(env, monkeypatch)
    effective = settings_env(settings)
    for key, value in env.items():
        if key == "SEGFLOW_BROKER":
            assert settings.bootstrap_servers == value.removeprefix("kafka://"), where
        elif value.lower() in {"true", "false"}:
            assert effective[key] == value.lower(), (where, key)
        else:
            assert _same(effective[key], value), f"{where}: {key}={value} reads as {effective[key]}"
    return settings


def segflow_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the segflow image."""
    image = services()[WORKERS[0]]["image"]
    return {name: svc for name, svc in services().items() if svc.get("image") == image}


def test_compose_has_the_services() -> None:
    names = set(services())
    assert {"kafka", TOPICS_INIT, *WORKERS, "prometheus", "grafana"} <= names
    assert set(segflow_services()) == {TOPICS_INIT, *WORKERS}
    for name in segflow_services():
        build = services()[name]["build"]
        context = build["context"] if isinstance(build, dict) else build
        assert (COMPOSE.parent / context / "Dockerfile").is_file()


def test_compose_segflow_environment_is_settings_the_app_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, service in segflow_services().items():
        env = segflow_env(service)
        assert env, name
        assert_accepted(env, name, monkeypatch)


def test_dockerfile_environment_is_settings_the_app_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {k: v for k, v in dockerfile_env().items() if k.startswith("SEGFLOW_")}
    settings = assert_accepted(env, "Dockerfile", monkeypatch)
    assert settings.web_bind == "0.0.0.0", "a container must listen beyond its loopback"
    assert str(settings.web_port) in " ".join(dockerfile_args("EXPOSE")).split()


def test_every_segflow_service_shares_partitions_topics_and_engine_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All workers must share the engine settings (else snapshots are rejected)."""
    shared = []
    for service in segflow_services().values():
        env = {**dockerfile_env(), **env_of(service)}
        s = settings_from({k: v for k, v in env.items() if k.startswith("SEGFLOW_")}, monkeypatch)
        shared.append((s.broker, s.app_id, s.partitions, s.topics, s.engine))
    assert all(item == shared[0] for item in shared)


def test_interpolate_reads_compose_defaults_and_required_variables() -> None:
    assert interpolate("${GRAFANA_ADMIN_PASSWORD:-admin}") == "admin"
    assert interpolate("a$${NOT_ME}") == "a${NOT_ME}"
    assert interpolate("${SEGFLOW_WEB_TOKEN:?set it}") == HOST_ENV["SEGFLOW_WEB_TOKEN"]
    with pytest.raises(AssertionError):
        interpolate("${SOMETHING_ELSE:?set it}")


def test_every_published_port_is_on_the_loopback_only() -> None:
    """Nothing of the stack (broker, workers, Prometheus, Grafana) is reachable from
    other machines unless an operator decides so."""
    for name, service in services().items():
        for port in service.get("ports", []):
            if isinstance(port, dict):  # long syntax
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
                assert str(port).count(":") == 2, (name, port)  # host ip:host port:port


def test_the_workers_need_a_token_from_the_host_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compose refuses to start without SEGFLOW_WEB_TOKEN (no default is baked in), and
    every segflow service gets the same one (workers send it to each other)."""
    assert "SEGFLOW_WEB_TOKEN" not in dockerfile_env(), "a secret does not belong in the image"
    tokens = set()
    for name, service in segflow_services().items():
        raw = raw_env_of(service).get("SEGFLOW_WEB_TOKEN", "")
        assert re.fullmatch(r"\$\{SEGFLOW_WEB_TOKEN:\?[^}]+\}", raw), (name, raw)
        env = {**dockerfile_env(), **env_of(service)}
        s = settings_from({k: v for k, v in env.items() if k.startswith("SEGFLOW_")}, monkeypatch)
        assert s.web_token is not None, name
        tokens.add(s.web_token.get_secret_value())
    assert len(tokens) == 1


def test_prometheus_scrapes_a_route_that_needs_no_token() -> None:
    from segflow.streams.web_guard import OPEN_PATHS

    for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]:
        if job["job_name"] == "segflow":
            assert job.get("metrics_path", "/metrics") in OPEN_PATHS
            assert not {"authorization", "bearer_token", "bearer_token_file"} & set(job)
    assert healthcheck_path() in OPEN_PATHS


def test_workers_have_their_own_state_volume_and_web_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declared = set(compose().get("volumes") or {})
    data_dirs, volumes, ports = set(), set(), set()
    for name in WORKERS:
        service = services()[name]
        env = {**dockerfile_env(), **env_of(service)}
        s = settings_from({k: v for k, v in env.items() if k.startswith("SEGFLOW_")}, monkeypatch)
        assert s.store == "rocksdb://", name
        assert s.web_port != 0 and s.web_bind == "0.0.0.0", name
        # Other workers route requests to this one by the advertised host: the service's.
        assert s.web_advertised_host in {name, service.get("hostname")}, name
        data_dir = PurePosixPath(str(s.data_dir))
        assert data_dir.is_absolute(), name
        mounts = [m.split(":") for m in service.get("volumes", [])]
        holding = [m for m in mounts if data_dir.is_relative_to(PurePosixPath(m[1]))]
        assert holding, f"{name}: {data_dir} is not on a volume"
        volume = holding[0][0]
        assert volume in declared, f"{name}: {volume} is not a named volume"
        published = {int(p.split(":")[-1]) for p in service.get("ports", [])}
        assert s.web_port in published, f"{name}: web port {s.web_port} not published"
        data_dirs.add(data_dir)
        volumes.add(volume)
        ports.add(s.web_port)
    assert len(data_dirs) == len(volumes) == len(ports) == len(WORKERS)


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> name -> (host, port)."""
    out = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def test_kafka_runs_in_kraft_mode_and_the_broker_address_is_its_listener(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka = services()["kafka"]
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", kafka["image"])
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16  # a KRaft cluster id
    hostnames = {"kafka", kafka.get("hostname", "kafka")}
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    voter_id, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert voter_id == env["KAFKA_NODE_ID"]
    assert voter.rpartition(":")[0] in hostnames
    assert int(voter.rpartition(":")[2]) == listeners[controller][1]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    for name, service in segflow_services().items():
        merged = {**dockerfile_env(), **env_of(service)}
        s = settings_from({k: v for k, v in merged.items() if "SEGFLOW_" in k}, monkeypatch)
        for server in s.bootstrap_servers.split(","):
            host, _, port = server.rpartition(":")
            assert host in hostnames, f"{name}: {server} is not the kafka service"
            matches = [n for n, address in advertised.items() if address == (host, int(port))]
            assert matches, f"{name}: {server} is not an advertised listener"
            assert matches[0] != controller
            assert listeners[matches[0]][1] == int(port), f"{name}: nothing listens on {port}"
        depends = service.get("depends_on", {})
        if name == TOPICS_INIT:
            assert depends["kafka"]["condition"] == "service_healthy"
        else:
            assert depends[TOPICS_INIT]["condition"] == "service_completed_successfully"


# -- commands ----------------------------------------------------------------------------


def assert_real_command(argv: list[str]) -> None:
    assert argv[0] == "segflow", argv
    build_parser().parse_args(argv[1:])  # raises UsageError if not
    result = subprocess.run(
        [str(SEGFLOW_BIN), *argv[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: segflow" in result.stdout


def test_dockerfile_cmd_is_a_real_cli_command() -> None:
    cmds = dockerfile_args("CMD")
    assert len(cmds) == 1
    argv = exec_form(cmds[0])
    assert argv[:2] == ["segflow", "worker"]
    assert_real_command(argv)


def test_topics_init_runs_topics_create() -> None:
    command = services()[TOPICS_INIT]["command"]
    argv = command if isinstance(command, list) else shlex.split(command)
    assert argv[:3] == ["segflow", "topics", "create"]
    assert_real_command(argv)


def test_dockerfile_base_image_copies_and_healthcheck() -> None:
    assert dockerfile_args("FROM") == ["python:3.11-slim"]
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copied = []
    for args in dockerfile_args("COPY"):
        parts = shlex.split(args)
        for source in parts[:-1]:
            assert (ROOT / source).exists(), source
            assert source not in ignored, f"{source} is copied but .dockerignore drops it"
            copied.append(source)
    # The package needs its packages' folders and its readme to install.
    pyproject = (ROOT / "pyproject.toml").read_text()
    for folder in re.findall(r'"segflow\.\w+" = "(\w+)"', pyproject):
        assert folder in copied, folder
    assert "README.md" in copied and "pyproject.toml" in copied
    (healthcheck,) = dockerfile_args("HEALTHCHECK")
    assert "SEGFLOW_WEB_PORT" in healthcheck
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "HEALTHCHECK", "exec")


def healthcheck_path() -> str:
    (healthcheck,) = dockerfile_args("HEALTHCHECK")
    match = re.search(r"http://[^/'\"]+(/[\w/.-]*)", healthcheck)
    assert match, healthcheck
    return match.group(1)


# -- Prometheus and Grafana --------------------------------------------------------------


def host_path(service: str, container_path: str) -> Path | None:
    """The repository file a bind mount of ``service`` puts at ``container_path``."""
    target = PurePosixPath(container_path)
    for mount in services()[service].get("volumes", []):
        source, destination = mount.split(":")[:2]
        if not source.startswith((".", "/")):
            continue  # a named volume
        if target.is_relative_to(destination):
            return (COMPOSE.parent / source / target.relative_to(destination)).resolve()
    return None


def test_prometheus_config_and_rules_are_mounted() -> None:
    command = services()["prometheus"]["command"]
    config = next(a.split("=", 1)[1] for a in command if a.startswith("--config.file="))
    assert host_path("prometheus", config) == PROMETHEUS_YML.resolve()
    files = load_yaml(PROMETHEUS_YML)["rule_files"]
    assert [host_path("prometheus", f) for f in files] == [ALERTS_YML.resolve()]


def test_prometheus_scrapes_both_workers_on_their_web_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]}
    job = jobs["segflow"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    expected = set()
    for name in WORKERS:  # compose service names resolve on the stack's network
        env = {**dockerfile_env(), **env_of(services()[name])}
        s = settings_from({k: v for k, v in env.items() if k.startswith("SEGFLOW_")}, monkeypatch)
        expected.add(f"{name}:{s.web_port}")
    assert targets == expected
    for where, expr, _ in all_exprs():  # job matchers name this scrape job
        for job_name in re.findall(r'\bjob\s*=\s*"([^"]*)"', expr):
            assert job_name in jobs, f"{where}: no scrape job {job_name!r}"


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard() -> None:
    provisioning = "/etc/grafana/provisioning"
    assert host_path("grafana", provisioning) == GRAFANA_PROVISIONING.resolve()
    (ds_file,) = sorted((GRAFANA_PROVISIONING / "datasources").glob("*.yml"))
    (datasource,) = load_yaml(ds_file)["datasources"]
    assert datasource["type"] == "prometheus"
    url = re.fullmatch(r"http://([\w.-]+):(\d+)/?", datasource["url"])
    assert url and url.group(1) == "prometheus"
    published = {p.split(":")[-1] for p in services()["prometheus"].get("ports", [])}
    assert url.group(2) in published | {"9090"}
    (dash_file,) = sorted((GRAFANA_PROVISIONING / "dashboards").glob("*.yml"))
    (provider,) = load_yaml(dash_file)["providers"]
    assert provider["type"] == "file"
    folder = host_path("grafana", provider["options"]["path"])
    assert folder is not None and (folder / DASHBOARD.name).resolve() == DASHBOARD.resolve()
    home = env_of(services()["grafana"]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert host_path("grafana", home) == DASHBOARD.resolve()
    for panel in dashboard_panels():
        for item in [panel, *panel.get("targets", [])]:
            if "datasource" in item and panel["type"] != "row":
                assert item["datasource"]["uid"] == datasource["uid"], panel["title"]


# -- the metrics queried are the metrics a live worker exports ---------------------------


class LiveWorker:
    def __init__(self, port: int, metrics_text: str) -> None:
        self.port = port
        self.metrics_text = metrics_text


def _get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), ""
    except OSError:
        return 0, ""


def _sample_total(text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


@pytest.fixture(scope="module")
def live_worker(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveWorker]:
    """One ``segflow worker`` on the test broker, fed valid and invalid events."""
    from kafkatest import WorkerProc, isolated_settings, prepare, producer, send_events

    from segflow.models.config import EngineConfig
    from segflow.sources.simulator import SimulationConfig, simulate

    tmp = tmp_path_factory.mktemp("deploy-worker")
    engine = EngineConfig(max_lateness_hours=24 * 365.0, rules_file=ROOT / "examples/rules.yaml")
    # With the compose file's token: /metrics and the healthcheck need none.
    token = HOST_ENV["SEGFLOW_WEB_TOKEN"]
    settings = isolated_settings(broker, tmp, engine=engine, web_token=token)
    prepare(settings)
    worker = WorkerProc(settings, tmp / "worker.log").start()
    try:
        events = simulate(
            SimulationConfig(customers=20, days=8.0, seed=11, drift_fraction=0.0)
        ).events
        send_events(settings, events)
        p = producer(settings)
        p.send(settings.topics.clicks, key=b"bad", value=b"{not json").get(timeout=30)
        p.close()
        metrics_url = f"http://127.0.0.1:{worker.port}/metrics"
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline and worker.alive():
            status, text = _get(metrics_url)
            if status == 200 and (
                _sample_total(text, "segflow_dead_letters_total") >= 1
                and _sample_total(text, "segflow_events_total") >= len(events)
            ):
                break
            time.sleep(0.5)
        assert worker.alive(), worker.log_tail()
        status, text = _get(metrics_url)
        assert status == 200, worker.log_tail()
        yield LiveWorker(worker.port, text)
    finally:
        worker.stop()


@pytest.mark.kafka
def test_every_metric_queried_is_exported_by_a_live_worker(live_worker: LiveWorker) -> None:
    families = list(text_string_to_metric_families(live_worker.metrics_text))
    series = exported_series(families)
    assert series, "the worker exported nothing"
    missing = sorted(
        f"{where}: {name}"
        for where, expr, _ in all_exprs()
        for name in promql_metric_names(expr)
        if name not in series and name not in PROMETHEUS_SERIES
    )
    assert not missing, "queried but not exported:\n" + "\n".join(missing)


@pytest.mark.kafka
def test_labels_queried_are_on_the_live_series(live_worker: LiveWorker) -> None:
    """``by (...)``, matchers and legends name labels the metric really has."""
    series = exported_series(list(text_string_to_metric_families(live_worker.metrics_text)))
    problems = []
    for where, expr, legend in all_exprs():
        metrics = promql_metric_names(expr) - PROMETHEUS_SERIES
        if len(metrics) != 1 or next(iter(metrics)) not in series:
            continue  # several metrics (joins), or reported by the test above
        (metric,) = metrics
        samples = [s for s in series[metric].samples if s.name == metric]
        if not samples:
            continue  # no series yet: the label set cannot be seen
        have = set().union(*(s.labels for s in samples)) | TARGET_LABELS
        if metric.endswith("_bucket"):
            have.add("le")
        extra = promql_labels(expr, legend) - have
        if extra:
            problems.append(f"{where}: {metric} has no label {sorted(extra)}")
    assert not problems, "\n".join(problems)


def healthcheck_argv() -> list[str]:
    (healthcheck,) = dockerfile_args("HEALTHCHECK")
    _, _, command = healthcheck.partition(" CMD ")
    return exec_form(command.strip())


@pytest.mark.kafka
def test_the_dockerfile_healthcheck_passes_on_a_live_worker(live_worker: LiveWorker) -> None:
    """The image's HEALTHCHECK command, run against a live worker, reports healthy."""
    argv = healthcheck_argv()
    assert argv[0] == "python"
    result = subprocess.run(
        [sys.executable, *argv[1:]],
        env={"SEGFLOW_WEB_PORT": str(live_worker.port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    status, _ = _get(f"http://127.0.0.1:{live_worker.port}{healthcheck_path()}")
    assert result.returncode == 0, f"{healthcheck_path()} answered {status}: {result.stderr[-500:]}"
