"""A JSON-RPC proxy for tests that drops a seeded share of the calls it forwards to a node."""

from __future__ import annotations

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import numpy as np


class FlakyProxy:
    """Forwards POSTs to ``target``; a share ``drop`` of them (drawn from ``SeedSequence(seed)``)
    fails: half answered 503 without being forwarded, half forwarded with the answer lost (the
    node acted, the caller never learns it)."""

    def __init__(self, target: str, *, drop: float, seed: int) -> None:
        self.target, self.drop = target, drop
        self.rng = np.random.default_rng(np.random.SeedSequence(seed))
        self.dropped = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy._lock:
                    fate = proxy.rng.random()
                    dropped = fate < proxy.drop
                    proxy.dropped += dropped
                if dropped and fate < proxy.drop / 2:
                    self.send_error(503, "dropped by the test proxy")
                    return
                req = urllib.request.Request(proxy.target, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    answer = r.read()
                if dropped:  # forwarded, answer lost
                    self.send_error(502, "answer lost by the test proxy")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
