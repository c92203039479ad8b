"""A relying party's back-channel logout endpoint on a free loopback port, for our dispatcher to call.

It records every POST and answers as told: 200 by default, another status, or only once the test
releases it (a delivery held in flight, or one that outlasts the sender's timeout). Threaded, so a
held request does not keep the next one out.

Use it as a context manager: it stops serving (releasing any held request) when the block ends.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

# A held request is answered at the latest after this long, so a failing test cannot hang the run.
HOLD_LIMIT_SECONDS = 30


@dataclass(frozen=True)
class Received:
    path: str
    content_type: str
    form: dict[str, list[str]]

    @property
    def logout_token(self) -> str:
        [token] = self.form["logout_token"]
        return token


class _Server(ThreadingHTTPServer):
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent: the sender has given up on a held request by the time it is answered."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        receiver = self.server.receiver
        receiver.arrived(Received(self.path, self.headers.get("Content-Type", ""), parse_qs(body)))
        receiver.gate.wait(HOLD_LIMIT_SECONDS)
        self.send_response(receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads ``Receiver.received``."""


class Receiver:
    """The endpoint: ``url`` to register, ``received`` to read, ``status`` and ``hold()`` to steer."""

    def __init__(self) -> None:
        self.status = 200
        self.gate = threading.Event()
        self.gate.set()
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.url = f"http://127.0.0.1:{self._server.server_port}/backchannel-logout"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="logout-receiver",
                                        daemon=True)
        self._thread.start()

    def arrived(self, request: Received) -> None:
        with self._changed:
            self.received.append(request)
            self._changed.notify_all()

    def hold(self) -> None:
        """Answer nothing until ``release()``."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` requests, once they have arrived."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.received) >= count, timeout), \
                f"{len(self.received)} of {count} requests arrived"
            return self.received[:count]

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
