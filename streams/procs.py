"""Child processes that never outlive their owner: spawn helpers and stop-by-PID."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys

_PR_SET_PDEATHSIG = 1


def parent_death_signal() -> None:
    """``preexec_fn``: have the kernel SIGTERM this child when its parent dies (Linux)."""
    if sys.platform != "linux":  # pragma: no cover
        return
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def stop_process(
    proc: subprocess.Popen[bytes],
    *,
    term_signal: int = signal.SIGTERM,
    grace: float = 10.0,
) -> int | None:
    """Stop ``proc`` by PID: ``term_signal``, wait up to ``grace`` s, then SIGKILL.

    Always reaps the child, so no zombie is left. Returns its exit code.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(term_signal)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    # After SIGKILL the wait is short; loop so a Ctrl-C here cannot leave a zombie.
    while True:
        try:
            return proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL always lands
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
