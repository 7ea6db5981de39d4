"""The security tests reuse the broker tests' helpers (``tests/streams/kafkatest.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streams"))
