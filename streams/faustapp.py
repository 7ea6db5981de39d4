"""For the ``faust`` command line: ``faust -A segflow.streams.faustapp worker -l warn``.

Importing this module builds nothing. The app is created by the factory on first
access of ``app`` (PEP 562 module ``__getattr__``), from ``SEGFLOW_*`` settings,
after creating any missing topic. Prefer ``segflow worker``; note that the
``faust worker`` command turns the web server on unless given ``--without-web``
(it overrides ``web_enabled``), and wants ``-l warn``, not ``-l warning``.
"""

from __future__ import annotations

import logging
from typing import Any

_app: Any = None


def __getattr__(name: str) -> Any:
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        from segflow.models.errors import ConfigError

        from .app import create_app
        from .settings import load_settings
        from .worker import ensure_topics

        settings = load_settings()
        try:
            ensure_topics(settings)
        except ConfigError as error:
            logging.getLogger("segflow.streams").warning("topics not checked: %s", error)
        _app = create_app(settings)
    return _app
