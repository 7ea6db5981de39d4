"""The security tests reuse the streaming tests' helpers and fixtures.

``tests/streams`` (``kafkatest``, ``helpers``) goes on ``sys.path`` as pytest puts it
there for its own tests, and its ``workers`` fixture is taken from its conftest as it is.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

STREAMS_TESTS = Path(__file__).resolve().parents[1] / "streams"
if str(STREAMS_TESTS) not in sys.path:
    sys.path.insert(0, str(STREAMS_TESTS))


def _streams_conftest() -> object:
    spec = importlib.util.spec_from_file_location(
        "segflow_tests_streams_conftest", STREAMS_TESTS / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


workers = _streams_conftest().workers  # type: ignore[attr-defined]
