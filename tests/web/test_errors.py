"""Error pages: the site's style, the right status, never a stack trace."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import make_app


def test_not_found_page(client: FlaskClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "Không tìm thấy trang" in body and 'class="site-header"' in body


def test_method_not_allowed_page(client: FlaskClient) -> None:
    response = client.put("/login")
    assert response.status_code == 405
    assert "Phương thức không được phép" in response.get_data(as_text=True)


def test_too_large_request_is_refused(client: FlaskClient) -> None:
    response = client.post("/login", data={"identifier": "x" * 100_000, "password": "p"})
    assert response.status_code == 413
    assert "Yêu cầu quá lớn" in response.get_data(as_text=True)


@pytest.fixture
def failing_app(app_config) -> Flask:
    app = make_app(app_config)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    @app.get("/forbidden")
    def forbidden() -> str:
        from flask import abort

        abort(403)

    return app


def test_unexpected_error_shows_the_500_page_without_details(failing_app: Flask, caplog) -> None:
    response = failing_app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Lỗi hệ thống" in body
    assert "secret internal detail" not in body and "Traceback" not in body
    assert "secret internal detail" in caplog.text  # logged for the operators


def test_forbidden_page(failing_app: Flask) -> None:
    response = failing_app.test_client().get("/forbidden")
    assert response.status_code == 403 and "Không có quyền truy cập" in response.get_data(as_text=True)


def test_error_pages_in_english(client: FlaskClient) -> None:
    client.get("/lang/en")
    assert "Page not found" in client.get("/nowhere").get_data(as_text=True)


def test_too_many_requests_page(failing_app: Flask) -> None:
    @failing_app.get("/busy")
    def busy() -> str:
        from flask import abort

        abort(429)

    response = failing_app.test_client().get("/busy")
    assert response.status_code == 429 and "Quá nhiều yêu cầu" in response.get_data(as_text=True)


def test_health_check(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_health_check_reports_an_unreachable_database(app_config) -> None:
    app_config["IDP_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    response = make_app(app_config).test_client().get("/healthz")
    assert response.status_code == 503 and response.json == {"status": "unavailable"}
