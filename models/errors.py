"""One root exception for segflow, with one subclass per concern."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


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


class SnapshotError(SegflowError, ValueError):
    """A model snapshot that must not become a model.

    ``reason`` is a short tag (``envelope``, ``signature``, ``size``, ``schema``,
    ``settings``: see :mod:`segflow.models.snapshot_schema`); ``str(error)`` is one line.
    """

    def __init__(self, message: str, reason: str = "schema") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FirstError:
    """The error of a pydantic ``ValidationError`` worth one line, and how many more.

    >>> from pydantic import BaseModel, ValidationError
    >>> class Point(BaseModel):
    ...     x: int
    ...     y: int
    >>> try:
    ...     Point.model_validate({"x": "a"})
    ... except ValidationError as error:
    ...     first = FirstError.of(error)
    >>> first.line(first.path)
    'x: Input should be a valid integer, unable to parse string as an integer (and 1 more)'
    """

    loc: tuple[str | int, ...]
    type: str
    message: str
    input: Any
    more: int

    @classmethod
    def of(cls, error: ValidationError, prefer: str | None = None) -> FirstError:
        """The first error (the first of type ``prefer`` when there is one); the message
        without pydantic's ``Value error, `` prefix."""
        errors = error.errors(include_url=False)
        preferred = [e for e in errors if e["type"] == prefer] if prefer else []
        first = preferred[0] if preferred else errors[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        return cls(tuple(first["loc"]), first["type"], message, first.get("input"), len(errors) - 1)

    @property
    def path(self) -> str:
        """The location as dotted text (``properties.score``)."""
        return ".".join(str(part) for part in self.loc)

    def line(self, where: str, message: str | None = None) -> str:
        """``where: message (and N more)``; just the message when ``where`` is empty."""
        text = message if message is not None else self.message
        line = f"{where}: {text}" if where else text
        return line + (f" (and {self.more} more)" if self.more else "")
