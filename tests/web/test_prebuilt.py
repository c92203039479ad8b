"""The discovery documents and the JWKS are sent again whole past Flask's request cycle, yet exactly as the
views send them, and never after the document has changed."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from idp import stamped_cache
from idp.oidc import keys
from tests.conftest import make_app

PATHS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks"]


def _kids(client: FlaskClient) -> set[str]:
    return {key["kid"] for key in client.get("/jwks").json["keys"]}


@pytest.mark.parametrize("path", PATHS)
def test_the_kept_response_is_the_views_own(client: FlaskClient, through_flask: list[str], path: str) -> None:
    first, second = client.get(path), client.get(path)
    assert through_flask == [path]  # the second never reached Flask...
    assert second.status == first.status == "200 OK"  # ...and is the same response, headers and all
    assert second.headers.to_wsgi_list() == first.headers.to_wsgi_list()
    assert second.data == first.data
    assert second.headers["Access-Control-Allow-Origin"] == "*"
    assert second.headers["X-Content-Type-Options"] == "nosniff"
    assert "public" in second.headers["Cache-Control"]


def test_a_rotation_is_served_at_once(app: Flask, client: FlaskClient, through_flask: list[str]) -> None:
    before = _kids(client)
    rotated = keys.rotate()
    after = _kids(client)
    assert after != before and {key.kid for key in rotated} <= after
    assert _kids(client) == after
    assert through_flask == ["/jwks", "/jwks"]  # the changed document was answered by the view, then kept


def test_another_worker_serves_a_rotation_at_its_next_stamp_check(app: Flask, app_config: dict[str, Any]) -> None:
    keys.ensure_keys()
    caching = make_app({**app_config, "IDP_CACHE_CHECK_SECONDS": 3600})
    worker = caching.test_client()
    before = _kids(worker)
    keys.rotate()  # committed by another process, as far as ``caching`` knows
    assert _kids(worker) == before  # what its view would send too, until it looks at the stamps
    with caching.app_context():
        cache = stamped_cache.cache()
    now = cache.clock()
    cache.clock = lambda: now + 3600
    assert _kids(worker) == {key.kid for key in keys.published()} != before


@pytest.mark.parametrize(("method", "query"), [("HEAD", ""), ("POST", ""), ("GET", "x=1")])
def test_only_a_plain_get_is_answered_from_memory(client: FlaskClient, through_flask: list[str],
                                                  method: str, query: str) -> None:
    client.get("/jwks")
    for _ in range(2):
        client.open("/jwks", method=method, query_string=query)
    assert through_flask == ["/jwks"] * 3


def test_a_failure_while_asking_goes_to_the_view(client: FlaskClient, through_flask: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    good = client.get("/jwks")

    def database_down() -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(keys, "_snapshot", database_down)
    failed = client.get("/jwks")
    assert failed.status_code == 500 and failed.json["error"] == "server_error"  # the view's own answer
    monkeypatch.undo()
    assert client.get("/jwks").data == good.data
    assert through_flask == ["/jwks"] * 2  # the view answered the failure, which replaced nothing kept
