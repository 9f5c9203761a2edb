"""Find, start and stop the pinned anvil node; minimal JSON-RPC over HTTP.

The one piece of module state in the chain package is :data:`_RUNNING`, the registry of anvil
processes this Python process started: :func:`stop_all` (registered with :mod:`atexit`) stops
whatever is still running at interpreter exit, so no node outlives its test session even when
a test forgets to close its chain.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from protocol.errors import ChainError

__all__ = [
    "ANVIL_VERSION",
    "AnvilProcess",
    "RpcClient",
    "find_anvil",
    "free_port",
    "rpc_request",
    "stop_all",
]

#: The anvil release the project pins (Makefile ``ANVIL_VERSION``, npm ``@foundry-rs/anvil``).
ANVIL_VERSION: Final = "1.7.1"
#: The checkout's tools folder where ``make anvil`` installs the npm package.
TOOLS_DIR: Final = Path(__file__).resolve().parents[2] / "tools"
#: Environment variable naming an anvil binary explicitly.
ANVIL_ENV: Final = "NOVATION_ANVIL"

# Registry of started nodes (pid -> process) for the atexit cleanup; see the module docstring.
_RUNNING: dict[int, subprocess.Popen[bytes]] = {}


def find_anvil(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The anvil binary: ``explicit``, else ``$NOVATION_ANVIL``, else PATH, else ``tools/``.

    Raises ChainError naming the fix (``make anvil``) when none is found.
    """
    candidates: list[Path] = []
    for given in (explicit, os.environ.get(ANVIL_ENV)):
        if given:
            path = Path(given)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise ChainError(f"anvil binary {str(path)!r} does not exist or is not executable")
            return path
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    candidates += sorted(TOOLS_DIR.glob("node_modules/@foundry-rs/anvil-*/bin/anvil"))
    candidates.append(TOOLS_DIR / "node_modules" / ".bin" / "anvil")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ChainError(
        f"anvil not found on PATH, in ${ANVIL_ENV} or under {TOOLS_DIR}/node_modules: run `make anvil` "
        f"(npm package @foundry-rs/anvil@{ANVIL_VERSION})"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc_request(url: str, payload: dict[str, Any] | list[dict[str, Any]], *, timeout_s: float = 60.0) -> Any:
    """POST one JSON-RPC request (or a batch) and return the decoded response.

    Raises ChainError for an unreachable endpoint or a non-JSON answer.
    """
    body = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise ChainError(f"JSON-RPC endpoint {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ChainError(f"cannot reach the JSON-RPC endpoint {url}: {reason}; is the node running?") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ChainError(f"JSON-RPC endpoint {url} did not answer JSON: {raw[:120]!r}") from None


class RpcClient:
    """JSON-RPC to one endpoint over a keep-alive HTTP connection per thread.

    :func:`rpc_request` opens a connection per request (~0.25 ms of Python per call); this keeps
    one open per calling thread (~0.1 ms). A request whose connection, used before, turns out
    closed by the node (dropped while idle) is sent once more on a new connection; any other
    failure raises ChainError as :func:`rpc_request` does.
    """

    def __init__(self, url: str, *, timeout_s: float = 120.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"JSON-RPC endpoint {url!r} is not an http(s) URL")
        self.url = url
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = parts.path or "/"
        self._timeout_s = timeout_s
        self._local = threading.local()

    def request(self, payload: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """POST one JSON-RPC request (or a batch) and return the decoded response."""
        body = json.dumps(payload).encode()
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        for reused in (conn is not None, False):
            if conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                conn = cls(self._host, self._port, timeout=self._timeout_s)
                self._local.conn = conn
            try:
                conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                conn = self._local.conn = None
                # only a dropped idle connection is retried: anything else may have reached the node
                if not (reused and isinstance(exc, http.client.RemoteDisconnected | ConnectionError)):
                    raise ChainError(
                        f"cannot reach the JSON-RPC endpoint {self.url}: {exc}; is the node running?"
                    ) from None
        if resp.status != 200:
            raise ChainError(f"JSON-RPC endpoint {self.url} answered HTTP {resp.status} {resp.reason}")
        try:
            return json.loads(raw)
        except ValueError:
            raise ChainError(f"JSON-RPC endpoint {self.url} did not answer JSON: {raw[:120]!r}") from None

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class AnvilProcess:
    """One anvil node started on a free loopback port; :meth:`stop` ends it."""

    def __init__(
        self,
        binary: Path,
        *,
        hardfork: str = "prague",
        extra_args: Sequence[str] = (),
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.binary = binary
        last_error = ""
        for _ in range(3):  # a port can be taken between free_port() and anvil's bind
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            cmd = [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--hardfork", hardfork, "--silent"]
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the node
            try:
                self.proc = subprocess.Popen(
                    [*cmd, *extra_args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr
                )
            except OSError as exc:
                raise ChainError(f"cannot start anvil at {binary}: {exc}") from None
            _RUNNING[self.proc.pid] = self.proc
            last_error = self._wait_ready(startup_timeout_s)
            if not last_error:
                return
            self.stop()
            if "address" not in last_error.lower():
                break
        raise ChainError(f"anvil did not start: {last_error}")

    def _wait_ready(self, timeout_s: float) -> str:
        """Empty string once eth_chainId answers; else what went wrong."""
        deadline = time.monotonic() + timeout_s
        payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace").strip()
                return f"anvil exited with code {self.proc.returncode}: {err or 'no output'}"
            try:
                if rpc_request(self.url, payload, timeout_s=1.0).get("result"):
                    return ""
            except ChainError:
                pass
            time.sleep(0.02)
        return f"anvil did not answer eth_chainId on {self.url} within {timeout_s:g} s"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the node (kill it after ``timeout_s``); idempotent."""
        proc = self.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        _RUNNING.pop(proc.pid, None)
        with contextlib.suppress(OSError):
            self._stderr.close()


def stop_all() -> None:
    """Stop every anvil this process started and that is still running (atexit hook)."""
    for pid, proc in list(_RUNNING.items()):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        _RUNNING.pop(pid, None)


atexit.register(stop_all)
