"""One root exception for segflow, with one subclass per concern."""

from __future__ import annotations


class SegflowError(Exception):
    """Root of every error segflow raises on purpose."""


class InvalidEventError(SegflowError, ValueError):
    """An input event that does not satisfy the input contract.

    ``reason`` is a short machine-friendly tag (``not_json``, ``schema``,
    ``unknown_type``, ...); ``str(error)`` is one line naming the field.
    """

    def __init__(self, message: str, reason: str = "schema", field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class RulesError(SegflowError, ValueError):
    """A rule-segments file that cannot be loaded: names the file, the rule and the reason."""


class ConfigError(SegflowError, ValueError):
    """A configuration value that is not acceptable."""
