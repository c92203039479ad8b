"""The demo portals of `make run` (demo/portals.py), seeded in a live provider as `make run` seeds them
and served on free loopback ports, for browser tests.

Use it with ``from tests.helpers.demo_portals import ServedPortals, served_portals  # noqa: F401``
next to ``live_server``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page
from werkzeug.serving import BaseWSGIServer, make_server

from demo import portals as demo_portals
from idp import demo
from idp.oidc import backchannel
from tests.helpers.live_server import LiveServer


@dataclass(frozen=True)
class ServedPortals:
    portals: list[demo_portals.Portal]  # in demo.DEMO_PORTALS's order: the first skips consent
    apps: list[Flask]


def _unattached(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"the portal is not attached yet\n"]


@pytest.fixture
def served_portals(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedPortals]:
    """Both demo portals, seeded (with the demo citizen) and served; stopped when the test ends."""
    # The seed registers each portal on the port of its redirect URI: the ports are bound first.
    servers: list[BaseWSGIServer] = []
    threads: list[threading.Thread] = []
    try:
        for _ in demo.DEMO_PORTALS:
            servers.append(make_server("127.0.0.1", 0, _unattached, threaded=True))
        monkeypatch.setenv("DEMO_PORTAL_PORTS", " ".join(str(server.server_port) for server in servers))
        with live_server.app.app_context():
            demo.seed()
        portals = demo_portals.load_portals(Path(live_server.app.instance_path))
        apps = demo_portals.create_portals(portals, live_server.url)
        for server, app in zip(servers, apps, strict=True):
            server.app = app
            threads.append(threading.Thread(target=server.serve_forever, name=f"portal-{server.server_port}",
                                            daemon=True))
            threads[-1].start()
        yield ServedPortals(portals, apps)
    finally:
        backchannel.dispatcher(live_server.app).stop()
        for server, thread in zip(servers, threads, strict=False):
            server.shutdown()
            thread.join(timeout=10)
        for server in servers:
            server.server_close()


def claim(page: Page, table: int, name: str) -> Locator:
    """The value cell of a claim in a portal's tables (0: the ID token, 1: UserInfo)."""
    row = page.locator("table").nth(table).locator("tr").filter(
        has=page.locator("th code", has_text=re.compile(rf"^{re.escape(name)}$")))
    return row.locator("td")
