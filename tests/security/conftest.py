"""Fixtures of the security tests: the streaming tests' helpers (``tests/streams``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streams"))
