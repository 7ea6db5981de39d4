"""The wheel installs only ``segflow.*``: no top-level ``models``, ``sources`` or
``streams`` package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_only_the_segflow_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("segflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "segflow",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    for shipped in (
        "segflow/models/py.typed",
        "segflow/sources/py.typed",
        "segflow/sources/simulator/__init__.py",
        "segflow/sources/simulator/customer.py",
        "segflow/sources/datasets.py",
        "segflow/sources/taobao.py",
        "segflow/streams/py.typed",
        "segflow/streams/static/dashboard.html",
        "segflow/streams/static/dashboard.js",
        "segflow/streams/static/dashboard.css",
        "segflow/streams/static/openapi.json",
        "segflow/models/step.py",
        "segflow/streams/app.py",
    ):
        assert shipped in names
    # Every module of the three folders is in the wheel (a subpackage left out of
    # pyproject's ``packages`` would install without its modules).
    for folder in ("models", "sources", "streams"):
        for path in (ROOT / folder).rglob("*.py"):
            shipped_path = f"segflow/{path.relative_to(ROOT).as_posix()}"
            assert shipped_path in names, f"{shipped_path} is not in the wheel"
