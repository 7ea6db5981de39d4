"""Errors of the streaming side that commands report as one line (exit code 1)."""

from __future__ import annotations


class CommandError(RuntimeError):
    """Something a command could not do; its message is one line for the user."""
