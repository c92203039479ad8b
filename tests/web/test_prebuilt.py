"""The discovery documents and the JWKS are sent again whole past Flask's request cycle, yet exactly as the
views send them, and never after the document has changed; redirects past Flask carry the view's headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, Response, redirect
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from idp import stamped_cache
from idp.oidc import keys
from idp.web import prebuilt
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


def _redirecting_app(view: Callable[[], Response], locate: Callable[[Any], str | None]) -> FlaskClient:
    tiny = Flask("tiny")
    tiny.add_url_rule("/go", view_func=view)
    prebuilt.init_app(tiny)
    prebuilt.redirect(tiny, "/go", locate)
    return tiny.test_client()


@pytest.mark.parametrize(("view", "kept"), [
    (lambda: Response(status=302, headers={"Location": "/by-view", "X-Extra": "1"}), True),
    (lambda: redirect("/by-view"), False),  # werkzeug's body names the place: not the next one's
    (lambda: Response(status=302, headers={"Location": "/by-view", "Set-Cookie": "a=b"}), False),
    (lambda: Response("a page"), False),
])
def test_a_redirect_is_kept_only_from_a_302_without_body_or_cookie(view: Callable[[], Response], kept: bool) -> None:
    client = _redirecting_app(view, lambda environ: "/early?" + environ["QUERY_STRING"])
    first, second = client.get("/go?n=1"), client.get("/go?n=2")
    if not kept:
        assert second.headers.to_wsgi_list() == first.headers.to_wsgi_list()
        return
    assert first.headers["Location"] == "/by-view" and second.headers["Location"] == "/early?n=2"
    assert second.status == first.status and second.data == b""
    assert [pair for pair in second.headers.to_wsgi_list() if pair[0] != "Location"] == \
        [pair for pair in first.headers.to_wsgi_list() if pair[0] != "Location"]


def test_a_redirect_nobody_located_or_whose_locating_failed_is_the_views() -> None:
    answers = iter(["/early", None, "fail"])

    def locate(environ: Any) -> str | None:
        answer = next(answers)
        if answer == "fail":
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return answer

    client = _redirecting_app(lambda: Response(status=302, headers={"Location": "/by-view"}), locate)
    assert client.get("/go").headers["Location"] == "/by-view"  # nothing kept yet: the view, not asked
    assert [client.get("/go").headers["Location"] for _ in range(3)] == ["/early", "/by-view", "/by-view"]


def _moving_app(view: Callable[[], Response], respond: Callable[[Any], prebuilt.Moved | None]) -> FlaskClient:
    tiny = Flask("tiny")
    tiny.add_url_rule("/in", view_func=view, methods=["GET", "POST"])
    prebuilt.init_app(tiny)
    prebuilt.move(tiny, "/in", respond)
    return tiny.test_client()


_COOKIES_AND_MORE = [("Location", "/by-view"), ("Set-Cookie", "a=1"), ("X-Extra", "1"), ("Set-Cookie", "b=2")]


_COOKIELESS = [("Location", "/by-view"), ("X-Extra", "1")]


@pytest.mark.parametrize(("view", "cookies", "kept"), [
    (lambda: Response(status=302, headers=_COOKIES_AND_MORE), ("c=3", "d=4"), True),
    (lambda: Response(status=302, headers=_COOKIELESS), (), True),
    (lambda: Response(status=302, headers=_COOKIELESS), ("c=3",), False),  # where would the cookies go?
    (lambda: redirect("/by-view"), (), False),  # werkzeug's body names the place: not the next one's
    (lambda: Response("a page", headers={"Set-Cookie": "a=1"}), ("c=3",), False),
])
def test_a_move_is_kept_from_a_302_without_body(view: Callable[[], Response], cookies: tuple[str, ...],
                                                kept: bool) -> None:
    client = _moving_app(view, lambda environ: prebuilt.Moved("/early", cookies))
    first, second = client.post("/in"), client.post("/in")
    if not kept:
        assert second.headers.to_wsgi_list() == first.headers.to_wsgi_list()
        return
    assert second.status == first.status and second.data == b""
    assert second.headers["Location"] == "/early" and second.headers.getlist("Set-Cookie") == list(cookies)
    names = [name for name, _ in second.headers.to_wsgi_list()]
    assert names[:len(cookies) + 2] == ["Location", *["Set-Cookie"] * len(cookies), "X-Extra"]  # where the view's began
    assert [pair for pair in second.headers.to_wsgi_list() if pair[0] not in ("Location", "Set-Cookie")] == \
        [pair for pair in first.headers.to_wsgi_list() if pair[0] not in ("Location", "Set-Cookie")]
    assert client.get("/in").headers["Location"] == "/by-view"  # a GET is not a move


def test_a_move_nobody_answered_or_whose_answer_failed_is_the_views() -> None:
    answers = iter([prebuilt.Moved("/early"), None, "fail"])

    def respond(environ: Any) -> prebuilt.Moved | None:
        answer = next(answers)
        if answer == "fail":
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return answer  # type: ignore[return-value]

    client = _moving_app(lambda: Response(status=302, headers=_COOKIES_AND_MORE), respond)
    assert client.post("/in").headers["Location"] == "/by-view"  # nothing kept yet: the view, not asked
    assert [client.post("/in").headers["Location"] for _ in range(3)] == ["/early", "/by-view", "/by-view"]
