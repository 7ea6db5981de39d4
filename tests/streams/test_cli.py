"""The ``segflow`` command line: help everywhere, bad input answered in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from segflow.streams.broker import free_port
from segflow.streams.cli import main

SEGFLOW = str(Path(sys.executable).with_name("segflow"))
COMMANDS = [[], ["worker"], ["demo"], ["simulate"], ["tail"], ["topics"], ["topics", "create"]]


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
