"""A real HTTP server on a free loopback port, for clients that are not the Flask test client.

The interoperability tests drive the provider with programs we did not write (a Node relying party);
they need a socket, and an issuer that names it. The port is known only once bound, and the issuer is
part of the configuration, so the socket is bound first and the app attached to it afterwards.

Use it with ``from tests.helpers.live_server import live_server  # noqa: F401`` in the test module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from idp.storage import db
from tests.conftest import _empty_all_tables, make_app


@dataclass(frozen=True)
class LiveServer:
    url: str  # the issuer: http://127.0.0.1:PORT, no trailing slash
    app: Flask


def _not_yet_attached(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers only if a request arrives before the app is attached, which the fixture rules out."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"the app is not attached yet\n"]


@pytest.fixture
def live_server(app_config: dict[str, Any]) -> Iterator[LiveServer]:
    """The app served by a threaded werkzeug server; its rows are deleted when the test ends."""
    server = make_server("127.0.0.1", 0, _not_yet_attached, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    application = make_app({**app_config, "IDP_ISSUER": url})
    server.app = application  # werkzeug's request handler reads server.app for every request
    thread = threading.Thread(target=server.serve_forever, name=f"live-server-{server.server_port}", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, app=application)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with application.app_context():
            db.session.remove()
            _empty_all_tables()
