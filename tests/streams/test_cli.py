"""The ``segflow`` command line: help everywhere, bad input answered in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from segflow.streams.broker import free_port
from segflow.streams.cli import main

SEGFLOW = str(Path(sys.executable).with_name("segflow"))
COMMANDS = [
    [],
    ["worker"],
    ["demo"],
    ["simulate"],
    ["tail"],
    ["topics"],
    ["topics", "create"],
    ["erase"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "segflow")
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: segflow" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["simulate", "--customers", "many"], "--customers: not an integer: 'many'"),
        (["simulate", "--rate", "-5"], "--rate: must be a finite number >= 0"),
        (["demo", "--duration", "0"], "--duration: must be > 0"),
        (["worker", "--web-port", "70000"], "--web-port: not a port number"),
        (["worker", "--store", "redis://"], "--store: invalid choice"),
        (["tail", "--max", "0"], "--max: must be >= 1"),
        (["topics"], "an action is required"),
        (["simulate", "--days", "5"], "drift window is empty"),
        (["tail", "--broker", "no-port"], "SEGFLOW_BROKER: 'no-port' is not host:port"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1


def test_bad_environment_setting_gets_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGFLOW_ENGINE__HALF_LIFE_DAYS", "-1")
    assert main(["topics", "create"]) == 2
    err = capsys.readouterr().err
    assert err == "segflow: SEGFLOW_ENGINE__HALF_LIFE_DAYS: Input should be greater than 0\n"


def test_unreachable_broker_gets_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("segflow.streams.cli_common.BROKER_TIMEOUT_S", 0.5)
    port = free_port()
    assert main(["topics", "create", "--broker", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"segflow: cannot reach the broker at 127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_installed_console_script_answers_without_traceback() -> None:
    done = subprocess.run(
        [SEGFLOW, "simulate", "--customers", "0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "segflow simulate: argument --customers: must be >= 1: '0' (see --help)"
    ]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("segments: [\n  - id: a\n    name: [unclosed\n", "not valid YAML"),
        (
            "segments:\n  - id: a\n    name: A\n"
            "    when: {field: features.no_such_feature, op: gt, value: 1}\n",
            "no_such_feature",
        ),
    ],
    ids=["yaml-error", "unknown-feature"],
)
@pytest.mark.parametrize("command", [["worker"], ["demo", "--duration", "1"]])
def test_a_bad_rules_file_is_one_line_before_the_broker_is_touched(
    command: list[str],
    rules: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    monkeypatch.setenv("SEGFLOW_ENGINE__RULES_FILE", str(path))
    # A broker nobody answers on: had the command gone there first, it would say so.
    assert main([*command, "--broker", f"127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert str(path) in err and expected in err
    assert "broker" not in err


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        (
            "SEGFLOW_PARTITION",
            "unknown setting SEGFLOW_PARTITION (did you mean SEGFLOW_PARTITIONS?)",
        ),
        ("SEGFLOW_ENGINE__N_SEGMENT", "did you mean SEGFLOW_ENGINE__N_SEGMENTS?"),
        ("SEGFLOW_FOO", "unknown setting SEGFLOW_FOO"),
    ],
)
def test_an_unknown_segflow_variable_is_an_error(
    variable: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, "8")
    assert main(["topics", "create", "--broker", f"127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1


def test_a_worker_says_within_10_s_that_the_broker_is_unreachable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    assert main(["worker", "--broker", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err == f"segflow: cannot reach the broker at 127.0.0.1:{port} (no answer within 10 s)\n"
