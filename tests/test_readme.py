"""The README's commands are the ones CI runs, and the README names what exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands(text: str) -> list[str]:
    """The one-line commands in the fenced code blocks of ``text``."""
    return [block.strip() for block in re.findall(r"```\n(.*?)```", text, flags=re.S)]


def test_ci_runs_exactly_the_readme_commands() -> None:
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert ci == commands(quick_start)
    assert len(ci) == 2


def test_every_cli_command_in_the_readme_exists() -> None:
    from segflow.streams.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    named = set(re.findall(r"`(?:\.venv/bin/)?segflow ([a-z]+)", readme))
    subcommands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert named <= subcommands, named - subcommands


def test_the_layout_table_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = []
    for folder in ("models", "sources", "streams"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "__init__.py":
                continue
            # `models/step.py`, `step.py`, or a package's `step` in its row
            if f"{path.name}`" not in layout and f"`{path.stem}`" not in layout:
                missing.append(str(path.relative_to(ROOT)))
    assert missing == []


def test_a_subscriber_can_recompute_change_ids_with_the_readme_recipe() -> None:
    from segflow.models.config import EngineConfig
    from segflow.models.runner import replay
    from segflow.sources.simulator import SimulationConfig, simulate

    readme = (ROOT / "README.md").read_text()
    contract = readme.split("## Output contract", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", contract, flags=re.S)
    (recipe,) = [block for block in blocks if "CHANGE_NAMESPACE" in block]
    sim = simulate(
        SimulationConfig(customers=40, days=30.0, warmup_days=7.0, settle_days=7.0, seed=3)
    )
    changes = replay(sim.events, EngineConfig(warmup_samples=50, warmup_days=1)).changes
    assert {c.kind for c in changes} >= {"behavioral"}
    for change in changes:
        names = {"customer_id": change.customer_id, "kind": change.kind, "seq": change.seq}
        exec(recipe, names)  # the README's code, as a subscriber would run it
        assert names["change_id"] == change.change_id


def test_the_readme_subscriber_code_names_what_exists() -> None:
    """The handover example's imports and calls are the package's (run for real against
    a broker in ``tests/streams/test_kafka_membership.py``)."""
    readme = (ROOT / "README.md").read_text()
    contract = readme.split("## Output contract", 1)[1].split("\n## ", 1)[0]
    (code,) = [
        b for b in re.findall(r"```python\n(.*?)```", contract, flags=re.S) if "audience" in b
    ]
    imports = "\n".join(line for line in code.splitlines() if line.startswith("from "))
    names: dict[str, object] = {}
    exec(imports, names)
    for name in ("read_membership", "follow_changes", "load_settings"):
        assert callable(names[name])
