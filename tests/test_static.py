"""The repository passes its own linters: ruff (lint and format) and strict mypy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint() -> None:
    run(str(BIN / "ruff"), "check", ".")


def test_ruff_format() -> None:
    run(str(BIN / "ruff"), "format", "--check", ".")


def test_mypy_strict_on_the_package(tmp_path: Path) -> None:
    # The folders install as segflow.models and segflow.streams; give mypy that layout.
    package = tmp_path / "segflow"
    package.mkdir()
    (package / "models").symlink_to(ROOT / "models")
    (package / "streams").symlink_to(ROOT / "streams")
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    run(
        str(BIN / "mypy"),
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / ".mypy_cache"),
        "-p",
        "segflow.models",
        "-p",
        "segflow.streams",
        cwd=tmp_path,
        env=env,
    )
