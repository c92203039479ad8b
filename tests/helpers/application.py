"""An application's redirect URIs, served on a free loopback port, for browser tests: the browser must
really arrive there (a registered URI on a host that does not exist would be looked up in DNS).

Use it with ``from tests.helpers.application import Application, application  # noqa: F401``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from werkzeug.serving import make_server

PATHS = ("/callback", "/signed-out", "/front-channel-logout")
# A single-page application's sign-in in a popup: /opener opens the popup on its button's click and
# keeps what the popup's last page, /popup-callback, sends it through window.opener (``window.answer``).
PAGES = {
    "/opener": """<!doctype html><title>Application</title><button id="open">Sign in</button>
<script>
window.answer = null;
window.addEventListener("message", (event) => { window.answer = event.data; });
document.getElementById("open").onclick = () => window.open(new URLSearchParams(location.search).get("to"),
                                                            "signin", "width=500,height=600");
</script>""",
    "/popup-callback": """<!doctype html><title>Signing in</title>
<script>
if (window.opener) { window.opener.postMessage(location.search, "*"); document.title = "answered"; }
else { document.title = "no opener"; }
</script>""",
    # A silent renewal (prompt=none) in a hidden frame, whose last page hands the answer to its parent.
    "/framer": """<!doctype html><title>Application</title>
<script>
window.answer = null;
window.addEventListener("message", (event) => { window.answer = event.data; });
const frame = document.createElement("iframe");
frame.hidden = true;
frame.src = new URLSearchParams(location.search).get("to");
document.documentElement.appendChild(frame);
</script>""",
    "/frame-callback": """<!doctype html><title>Renewing</title>
<script>window.parent.postMessage(location.search, "*");</script>""",
}


@dataclass(frozen=True)
class Visit:
    method: str
    path: str
    params: dict[str, list[str]]  # the query's, or a form post's


@dataclass
class Application:
    url: str  # http://127.0.0.1:PORT
    arrived: list[Visit] = field(default_factory=list)  # in order

    @property
    def callback(self) -> str:
        return f"{self.url}/callback"

    @property
    def signed_out(self) -> str:
        return f"{self.url}/signed-out"

    @property
    def front_channel_logout(self) -> str:
        return f"{self.url}/front-channel-logout"

    @property
    def popup_callback(self) -> str:
        return f"{self.url}/popup-callback"

    @property
    def frame_callback(self) -> str:
        return f"{self.url}/frame-callback"


@pytest.fixture
def application() -> Iterator[Application]:
    """Answers ``PATHS`` with a plain page and records the visit, and ``PAGES`` with theirs; the
    browser's own requests (its icon) get an empty answer."""
    visits: list[Visit] = []

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if page := PAGES.get(environ["PATH_INFO"]):
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page.encode()]
        if environ["PATH_INFO"] not in PATHS:
            start_response("204 No Content", [])
            return []
        method = environ["REQUEST_METHOD"]
        sent = environ.get("QUERY_STRING", "")
        if method == "POST":
            sent = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
        visits.append(Visit(method, environ["PATH_INFO"], parse_qs(sent)))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the application"]

    server = make_server("127.0.0.1", 0, serve, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"application-{server.server_port}", daemon=True)
    thread.start()
    try:
        yield Application(f"http://127.0.0.1:{server.server_port}", visits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
