"""The repository passes its own linters: ruff (lint and format) and strict mypy."""

from __future__ import annotations

import ast
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
    # The folders install as segflow.models, .sources and .streams; give mypy that layout.
    package = tmp_path / "segflow"
    package.mkdir()
    for folder in ("models", "sources", "streams"):
        (package / folder).symlink_to(ROOT / folder)
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
        "segflow.sources",
        "-p",
        "segflow.streams",
        cwd=tmp_path,
        env=env,
    )


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` (the file ``path``) imports, at any level
    (imports under ``TYPE_CHECKING`` count: a cycle there is a design cycle too). In
    ``from package import module``, the module is what is imported, not the package."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else ""
            target = target or (node.module or "")
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found |= submodules or ({target} & known)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
    return found - {module}


def test_no_import_cycle_in_the_package() -> None:
    modules: dict[str, Path] = {}
    for folder in ("models", "sources", "streams"):
        for path in (ROOT / folder).rglob("*.py"):
            parts = ["segflow", *path.relative_to(ROOT).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    graph = {m: _imports(p, m, set(modules)) for m, p in modules.items()}
    cycles = []
    for start in graph:  # a path back to the start through imports is a cycle
        seen, frontier = set(), list(graph[start])
        while frontier:
            module = frontier.pop()
            if module == start:
                cycles.append(start)
                break
            if module not in seen:
                seen.add(module)
                frontier.extend(graph[module])
    assert cycles == []
